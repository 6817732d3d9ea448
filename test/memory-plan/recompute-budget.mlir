// RUN: %expect_exit 1 modelopt-opt %s --memory-plan='recompute=auto budget=4096' 2>&1 | filecheck %s
// RUN: modelopt-opt %s --memory-plan='recompute=auto budget=8192' | filecheck %s --check-prefix=FITS
// RUN: modelopt-opt %s --memory-plan='recompute=auto budget=9216' | filecheck %s --check-prefix=NONEED
// RUN: %expect_exit 1 modelopt-opt %s --memory-plan='budget=8192' 2>&1 | filecheck %s --check-prefix=OFF

// A budget below what recompute reaches: the error names the smallest arena found (8192 bytes,
// recompute.mlir's @chain), and the IR is not rewritten (nothing on stdout).
// CHECK: recompute-budget.mlir:23:1: error: memory-plan: the arena does not fit in budget=4096 bytes: the smallest arena found with recompute within max-recompute=0.35 of the step's FLOPs is 8192 bytes
// CHECK-NOT: func.func

// A budget that recompute meets; one that the plan meets without recompute (none is done).
// FITS: modelopt.arena_size = 8192
// FITS: modelopt.recompute
// NONEED: modelopt.arena_size = 9216
// NONEED-NOT: modelopt.recompute

// Without recompute a budget is checked too.
// OFF: error: memory-plan: the arena needs 9216 bytes, more than budget=8192; recompute=auto may fit it

#id = affine_map<(d0) -> (d0)>
#row = affine_map<(d0, d1) -> (d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @chain(%x: memref<256xf32> {modelopt.noalias}, %out: memref<256xf32> {modelopt.noalias}) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<256xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : memref<256xf32>) outs(%a : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  }
  %b = memref.alloc() : memref<256xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<256xf32>) outs(%b : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  }
  %p = memref.alloc() : memref<4x256xf32>
  linalg.generic {indexing_maps = [#row, #id2], iterator_types = ["parallel", "parallel"]} ins(%b : memref<256xf32>) outs(%p : memref<4x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %one : f32
    linalg.yield %m : f32
  }
  %q = memref.alloc() : memref<4x256xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%p : memref<4x256xf32>) outs(%q : memref<4x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  }
  %s = memref.alloc() : memref<256xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<256xf32>)
  linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["reduction", "parallel"]} ins(%q : memref<4x256xf32>) outs(%s : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %o : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%b, %s : memref<256xf32>, memref<256xf32>) outs(%out : memref<256xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %m = arith.mulf %in, %in2 : f32
    linalg.yield %m : f32
  }
  memref.dealloc %a : memref<256xf32>
  memref.dealloc %b : memref<256xf32>
  memref.dealloc %p : memref<4x256xf32>
  memref.dealloc %q : memref<4x256xf32>
  memref.dealloc %s : memref<256xf32>
  return
}
