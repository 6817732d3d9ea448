// RUN: modelopt-opt %s --update-in-place --memory-plan --verify-diagnostics | filecheck %s
// RUN: modelopt-opt %s --pass-pipeline='builtin.module(update-in-place,memory-plan)' --verify-diagnostics | filecheck %s

// update-in-place, then memory-plan: once the out-param is gone, the gradient is the only
// temporary (64 bytes); where the update keeps a copy, its fresh buffer is planned into the arena
// next to the gradient (both are live at the update: 128 bytes).

#id = affine_map<(d0) -> (d0)>

// CHECK-LABEL: func.func @in_place
// CHECK-SAME: (%arg0: memref<16xf32> {modelopt.updated}, %arg1: memref<16xf32>)
// CHECK-SAME: modelopt.arena_size = 64 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64xi8>
// CHECK: %[[G:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<64xi8> to memref<16xf32>
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} ins(%arg1, %arg0 : memref<16xf32>, memref<16xf32>) outs(%[[G]] : memref<16xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[G]] : memref<16xf32>, memref<16xf32>) outs(%arg0 : memref<16xf32>)
// CHECK-NOT: memref.copy
func.func @in_place(%w: memref<16xf32>, %x: memref<16xf32>,
                    %new_w: memref<16xf32> {modelopt.updates = 0 : i64}) {
  %lr = arith.constant 0.1 : f32
  %g = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%x, %w : memref<16xf32>, memref<16xf32>) outs(%g : memref<16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%w, %g : memref<16xf32>, memref<16xf32>) outs(%new_w : memref<16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %b, %lr : f32
    %n = arith.subf %a, %s : f32
    linalg.yield %n : f32
  }
  return
}

// CHECK-LABEL: func.func @keeps_copy
// CHECK-SAME: (%arg0: memref<16xf32> {modelopt.updated}, %arg1: memref<16xf32>, %arg2: memref<16xf32>)
// CHECK-SAME: modelopt.arena_size = 128 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} ins(%arg1, %arg0 : memref<16xf32>, memref<16xf32>) outs(%[[G:.*]] : memref<16xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[G]] : memref<16xf32>, memref<16xf32>) outs(%[[NEW:.*]] : memref<16xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %arg1 : memref<16xf32>, memref<16xf32>) outs(%arg2 : memref<16xf32>)
// CHECK: memref.copy %[[NEW]], %arg0 : memref<16xf32> to memref<16xf32>
// CHECK-NEXT: return
func.func @keeps_copy(%w: memref<16xf32>, %x: memref<16xf32>, %y: memref<16xf32>,
                      // expected-remark @below {{the new value of argument 0 is written before the last read of its old value; the update keeps a copy}}
                      %new_w: memref<16xf32> {modelopt.updates = 0 : i64}) {
  %lr = arith.constant 0.1 : f32
  %g = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%x, %w : memref<16xf32>, memref<16xf32>) outs(%g : memref<16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%w, %g : memref<16xf32>, memref<16xf32>) outs(%new_w : memref<16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.mulf %b, %lr : f32
    %n = arith.subf %a, %s : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%w, %x : memref<16xf32>, memref<16xf32>) outs(%y : memref<16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  return
}
