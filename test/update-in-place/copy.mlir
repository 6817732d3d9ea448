// RUN: modelopt-opt %s --update-in-place --verify-diagnostics | filecheck %s

// Where no program order lets the new value overwrite the old one, the out-param becomes a fresh
// buffer that is copied into argument N right before the return, with a remark at the
// out-param. Argument N keeps its old value until then: never a wrong value.

#id = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>

// The matmul reads the old %w after the update has written the new one.
// CHECK-LABEL: func.func @read_after_update
// CHECK-SAME: (%arg0: memref<4x4xf32> {modelopt.updated}, %arg1: memref<4x4xf32>, %arg2: memref<4x4xf32>, %arg3: memref<4x4xf32>)
// CHECK-NEXT: %[[NEW:.*]] = memref.alloc() : memref<4x4xf32>
// CHECK: linalg.generic {{.*}} ins(%arg0, %arg1 : memref<4x4xf32>, memref<4x4xf32>) outs(%[[NEW]] : memref<4x4xf32>)
// CHECK: linalg.matmul ins(%arg2, %arg0 : memref<4x4xf32>, memref<4x4xf32>) outs(%arg3 : memref<4x4xf32>)
// CHECK-NEXT: memref.copy %[[NEW]], %arg0 : memref<4x4xf32> to memref<4x4xf32>
// CHECK-NEXT: return
func.func @read_after_update(%w: memref<4x4xf32>, %g: memref<4x4xf32>, %x: memref<4x4xf32>,
                             %y: memref<4x4xf32>,
                             // expected-remark @below {{the new value of argument 0 is written before the last read of its old value; the update keeps a copy}}
                             %new_w: memref<4x4xf32> {modelopt.updates = 0 : i64}) {
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %g : memref<4x4xf32>, memref<4x4xf32>) outs(%new_w : memref<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  }
  linalg.matmul ins(%x, %w : memref<4x4xf32>, memref<4x4xf32>) outs(%y : memref<4x4xf32>)
  return
}

// One op reads the old value and writes the new one, but not element by element: a matmul
// reads a whole column of %w for each element it writes.
// CHECK-LABEL: func.func @matmul_into_new
// CHECK-NEXT: %[[NEW:.*]] = memref.alloc() : memref<4x4xf32>
// CHECK-NEXT: linalg.matmul ins(%arg1, %arg0 : memref<4x4xf32>, memref<4x4xf32>) outs(%[[NEW]] : memref<4x4xf32>)
// CHECK-NEXT: memref.copy %[[NEW]], %arg0
func.func @matmul_into_new(%w: memref<4x4xf32>, %x: memref<4x4xf32>,
                           // expected-remark @below {{the new value of argument 0 is written before the last read of its old value}}
                           %new_w: memref<4x4xf32> {modelopt.updates = 0 : i64}) {
  linalg.matmul ins(%x, %w : memref<4x4xf32>, memref<4x4xf32>) outs(%new_w : memref<4x4xf32>)
  return
}

// Elementwise, but the old value is read transposed: element (i, j) of the new value needs
// element (j, i) of the old one, which an earlier iteration may already have overwritten.
// CHECK-LABEL: func.func @transposed_read
// CHECK-NEXT: %[[NEW:.*]] = memref.alloc() : memref<4x4xf32>
// CHECK-NEXT: linalg.generic {{.*}} ins(%arg0 : memref<4x4xf32>) outs(%[[NEW]] : memref<4x4xf32>)
// CHECK: memref.copy %[[NEW]], %arg0
func.func @transposed_read(%w: memref<4x4xf32>,
                           // expected-remark @below {{the new value of argument 0 is written before the last read of its old value}}
                           %new_w: memref<4x4xf32> {modelopt.updates = 0 : i64}) {
  linalg.generic {indexing_maps = [#tr, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : memref<4x4xf32>) outs(%new_w : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}

// The old value goes somewhere this pass does not follow (a call), so it cannot tell when it is
// last read. The shape is dynamic: the copy's buffer takes its size from argument 0.
// CHECK-LABEL: func.func @escapes
// CHECK-SAME: (%arg0: memref<?xf32> {modelopt.updated})
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[N:.*]] = memref.dim %arg0, %[[C0]] : memref<?xf32>
// CHECK-NEXT: %[[NEW:.*]] = memref.alloc(%[[N]]) : memref<?xf32>
// CHECK: call @observe(%arg0)
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%[[NEW]] : memref<?xf32>)
// CHECK-NEXT: memref.copy %[[NEW]], %arg0 : memref<?xf32> to memref<?xf32>
func.func private @observe(memref<?xf32>)
func.func @escapes(%w: memref<?xf32>,
                   // expected-remark @below {{argument 0 reaches 'func.call' and cannot be followed: it is passed to a call; the update keeps a copy}}
                   %new_w: memref<?xf32> {modelopt.updates = 0 : i64}) {
  %zero = arith.constant 0.0 : f32
  func.call @observe(%w) : (memref<?xf32>) -> ()
  linalg.fill ins(%zero : f32) outs(%new_w : memref<?xf32>)
  return
}
