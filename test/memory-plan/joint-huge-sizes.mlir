// RUN: modelopt-opt %s --memory-plan='mode=joint' | filecheck %s
// RUN: modelopt-opt %s --memory-plan='solver=ilp' | filecheck %s

// Buffers of 2^60 bytes: beyond 2^53 bytes in all the MIP solver (doubles) is not exact, and
// HiGHS failed outright on this input in joint mode (an IndexError traceback). The order and
// offsets come from the heuristics, which stay exact: %c reuses %a's place.
// CHECK-LABEL: func.func @large
// CHECK-SAME: modelopt.arena_size = 2305843009213693952 : i64
func.func @large(%arg: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<288230376151711744xf32>
  %b = memref.alloc() : memref<288230376151711744xf32>
  %c = memref.alloc() : memref<288230376151711744xf32>
  %va = memref.subview %a[0] [4] [1] : memref<288230376151711744xf32> to memref<4xf32, strided<[1]>>
  %vb = memref.subview %b[0] [4] [1] : memref<288230376151711744xf32> to memref<4xf32, strided<[1]>>
  %vc = memref.subview %c[0] [4] [1] : memref<288230376151711744xf32> to memref<4xf32, strided<[1]>>
  memref.copy %arg, %va : memref<4xf32> to memref<4xf32, strided<[1]>>
  memref.copy %va, %vb : memref<4xf32, strided<[1]>> to memref<4xf32, strided<[1]>>
  memref.copy %vb, %vc : memref<4xf32, strided<[1]>> to memref<4xf32, strided<[1]>>
  memref.copy %vc, %out : memref<4xf32, strided<[1]>> to memref<4xf32>
  return
}
