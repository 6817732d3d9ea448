// RUN: modelopt-opt %s --memory-plan | filecheck %s

// Buffers of 2^60 bytes whose arena still fits a 64-bit size are planned exactly: %a and %b
// are live together, %c reuses %a's place.
// CHECK-LABEL: func.func @large
// CHECK-SAME: modelopt.arena_size = 2305843009213693952 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2305843009213693952xi8>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1152921504606846976 : index
// CHECK-DAG: memref.view %[[ARENA]][%[[C1]]][] : memref<2305843009213693952xi8> to memref<288230376151711744xf32>
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
