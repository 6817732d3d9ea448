// RUN: modelopt-opt %s --memory-plan | filecheck %s

// noalias-reorder.mlir's IR without the noalias marks: %p and %q share one conservative memory
// class, so the update of %p (a write of that class) stays after the copy out of %q (a read of
// it). Both 256-byte temporaries are live at the update whatever the order: the arena is the
// program-order peak, 512 bytes, with the temporaries side by side.
// CHECK-LABEL: func.func @two_params
// CHECK-SAME: modelopt.arena_size = 512 : i64, modelopt.lower_bound = 512 : i64, modelopt.program_order_peak = 512 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<512xi8>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK-DAG: memref.view %[[ARENA]][%[[C0]]][] : memref<512xi8> to memref<64xf32>
// CHECK-DAG: memref.view %[[ARENA]][%[[C256]]][] : memref<512xi8> to memref<64xf32>
// CHECK-DAG: memref.copy %arg0, %[[A:.*]] : memref<64xf32> to memref<64xf32>
// CHECK-DAG: memref.copy %arg1, %[[B:.*]] : memref<64xf32> to memref<64xf32>
// CHECK: linalg.generic {{.*}} ins(%[[A]] : memref<64xf32>) outs(%arg0 : memref<64xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[B]], %arg0 : memref<64xf32>, memref<64xf32>) outs(%arg1 : memref<64xf32>)
#id = affine_map<(d0) -> (d0)>
func.func @two_params(%p: memref<64xf32>, %q: memref<64xf32>) {
  %two = arith.constant 2.0 : f32
  %a = memref.alloc() : memref<64xf32>
  memref.copy %p, %a : memref<64xf32> to memref<64xf32>
  %b = memref.alloc() : memref<64xf32>
  memref.copy %q, %b : memref<64xf32> to memref<64xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%a : memref<64xf32>) outs(%p : memref<64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %two : f32
    linalg.yield %y : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%b, %p : memref<64xf32>, memref<64xf32>) outs(%q : memref<64xf32>) {
  ^bb0(%x: f32, %z: f32, %o: f32):
    %y = arith.addf %x, %z : f32
    linalg.yield %y : f32
  }
  return
}
