// RUN: modelopt-opt %s --memory-plan | filecheck %s

// Two noalias parameters, each copied to a 256-byte temporary and then overwritten from it.
// In program order both temporaries are live at once (512 bytes). The arguments are separate
// memory classes, so the planner finishes %p (copy out, update) before it starts on %q: one
// temporary at a time, both at offset 0 (256 bytes). The update of %q reads the new %p, which
// makes this order the only optimum.
// CHECK-LABEL: func.func @two_params
// CHECK-SAME: modelopt.arena_size = 256 : i64, modelopt.lower_bound = 256 : i64, modelopt.program_order_peak = 512 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<256xi8>
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<256xi8> to memref<64xf32>
// CHECK-NEXT: %[[B:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<256xi8> to memref<64xf32>
// CHECK: memref.copy %arg0, %[[A]] : memref<64xf32> to memref<64xf32>
// CHECK: linalg.generic {{.*}} ins(%[[A]] : memref<64xf32>) outs(%arg0 : memref<64xf32>)
// CHECK: memref.copy %arg1, %[[B]] : memref<64xf32> to memref<64xf32>
// CHECK: linalg.generic {{.*}} ins(%[[B]], %arg0 : memref<64xf32>, memref<64xf32>) outs(%arg1 : memref<64xf32>)
#id = affine_map<(d0) -> (d0)>
func.func @two_params(%p: memref<64xf32> {modelopt.noalias},
                      %q: memref<64xf32> {modelopt.noalias}) {
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
