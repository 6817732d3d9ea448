// RUN: %expect_exit 1 modelopt-opt %s --memory-plan 2>&1 | filecheck %s -DFILE=%s

// A buffer of 2^64 bytes cannot be given a 64-bit offset or size: an error at its alloc,
// exit status 1, and no IR at all on stdout (the planned function before it is not printed
// half-rewritten either).
// CHECK-NOT: Traceback
// CHECK: [[FILE]]:[[# @LINE + 13]]:11: error: buffer of type memref<4611686018427387904xf32> needs 18446744073709551616 bytes, more than a signed 64-bit size can hold (9223372036854775807); memory-plan cannot place it
// CHECK-NOT: Traceback
// CHECK-NOT: func.func
// CHECK-NOT: memref.view
func.func @fine(%arg: memref<4xf32>, %out: memref<4xf32>) {
  %s = memref.alloc() : memref<4xf32>
  memref.copy %arg, %s : memref<4xf32> to memref<4xf32>
  memref.copy %s, %out : memref<4xf32> to memref<4xf32>
  return
}

func.func @huge(%arg: memref<4xf32>, %out: memref<4xf32>) {
  %small = memref.alloc() : memref<4xf32>
  %huge = memref.alloc() : memref<4611686018427387904xf32>
  %v = memref.subview %huge[0] [4] [1] : memref<4611686018427387904xf32> to memref<4xf32, strided<[1]>>
  memref.copy %arg, %v : memref<4xf32> to memref<4xf32, strided<[1]>>
  memref.copy %v, %small : memref<4xf32, strided<[1]>> to memref<4xf32>
  memref.copy %small, %out : memref<4xf32> to memref<4xf32>
  return
}
