// RUN: modelopt-opt %s --update-in-place --verify-diagnostics | filecheck %s

// Out-param form to in-place form where every read of the old value comes first: the out-param
// disappears from the signature, argument N is marked updated and the op that made the new value
// writes argument N itself. No copy, no new buffer, no remark.

#id = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>

// A training step: the matmul reads %w, the last op reads %w and writes its new value
// elementwise, so it can overwrite %w.
// CHECK-LABEL: func.func @sgd_step
// CHECK-SAME: (%arg0: memref<4x4xf32> {modelopt.kind = "param", modelopt.name = "w", modelopt.updated}, %arg1: memref<4x4xf32>, %arg2: memref<4x4xf32>)
// CHECK: %[[G:.*]] = memref.alloc() : memref<4x4xf32>
// CHECK-NOT: memref.alloc()
// CHECK: linalg.matmul ins(%arg1, %arg0 : memref<4x4xf32>, memref<4x4xf32>) outs(%[[G]] : memref<4x4xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[G]] : memref<4x4xf32>, memref<4x4xf32>) outs(%arg0 : memref<4x4xf32>)
// CHECK-NOT: memref.copy %{{.*}}, %arg0
// CHECK: return
func.func @sgd_step(%w: memref<4x4xf32> {modelopt.kind = "param", modelopt.name = "w"},
                    %x: memref<4x4xf32>,
                    %loss: memref<4x4xf32>,
                    %new_w: memref<4x4xf32> {modelopt.updates = 0 : i64, modelopt.kind = "output"}) {
  %zero = arith.constant 0.0 : f32
  %lr = arith.constant 0.1 : f32
  %g = memref.alloc() : memref<4x4xf32>
  linalg.fill ins(%zero : f32) outs(%g : memref<4x4xf32>)
  linalg.matmul ins(%x, %w : memref<4x4xf32>, memref<4x4xf32>) outs(%g : memref<4x4xf32>)
  memref.copy %g, %loss : memref<4x4xf32> to memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %g : memref<4x4xf32>, memref<4x4xf32>) outs(%new_w : memref<4x4xf32>) {
  ^bb0(%p: f32, %d: f32, %o: f32):
    %s = arith.mulf %d, %lr : f32
    %n = arith.subf %p, %s : f32
    linalg.yield %n : f32
  }
  return
}

// Two updates in one function, the out-params before and after the rest; the second reads the
// new value of the first (momentum, then the parameter). Both old values are read at the op that
// writes the new one, with the same permutation map on both sides.
// CHECK-LABEL: func.func @two_updates
// CHECK-SAME: (%arg0: memref<4x4xf32> {modelopt.updated}, %arg1: memref<4x4xf32> {modelopt.updated}, %arg2: memref<4x4xf32>)
// CHECK-NOT: memref.alloc()
// CHECK: linalg.generic {{.*}} ins(%arg1, %arg2 : memref<4x4xf32>, memref<4x4xf32>) outs(%arg1 : memref<4x4xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %arg1 : memref<4x4xf32>, memref<4x4xf32>) outs(%arg0 : memref<4x4xf32>)
// CHECK-NEXT: ^bb0
func.func @two_updates(%new_m: memref<4x4xf32> {modelopt.updates = 2 : i64},
                       %w: memref<4x4xf32>, %m: memref<4x4xf32>, %g: memref<4x4xf32>,
                       %new_w: memref<4x4xf32> {modelopt.updates = 1 : i64}) {
  linalg.generic {indexing_maps = [#tr, #tr, #tr], iterator_types = ["parallel", "parallel"]}
      ins(%m, %g : memref<4x4xf32>, memref<4x4xf32>) outs(%new_m : memref<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %new_m : memref<4x4xf32>, memref<4x4xf32>) outs(%new_w : memref<4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  }
  return
}

// The new value starts as a copy of the old one and is then updated in place through a view:
// once the two are one buffer the copy does nothing and is dropped; the view now views %arg0.
// CHECK-LABEL: func.func @copy_then_update
// CHECK-SAME: (%arg0: memref<8xf32> {modelopt.updated})
// CHECK-NOT: memref.copy
// CHECK: %[[HEAD:.*]] = memref.subview %arg0[0] [4] [1]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[HEAD]] :
// CHECK-NOT: memref.copy
func.func @copy_then_update(%w: memref<8xf32>,
                            %new_w: memref<8xf32> {modelopt.updates = 0 : i64}) {
  %zero = arith.constant 0.0 : f32
  memref.copy %w, %new_w : memref<8xf32> to memref<8xf32>
  %head = memref.subview %new_w[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  linalg.fill ins(%zero : f32) outs(%head : memref<4xf32, strided<[1]>>)
  return
}

// Functions without marks are left alone.
// CHECK-LABEL: func.func @unmarked
// CHECK-SAME: (%arg0: memref<8xf32>, %arg1: memref<8xf32>)
// CHECK-NEXT: memref.copy %arg0, %arg1
func.func @unmarked(%a: memref<8xf32>, %b: memref<8xf32>) {
  memref.copy %a, %b : memref<8xf32> to memref<8xf32>
  return
}
