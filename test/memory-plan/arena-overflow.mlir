// RUN: %expect_exit 1 modelopt-opt %s --memory-plan 2>&1 | filecheck %s -DFILE=%s

// Each buffer (2^62 bytes) has a valid 64-bit size, but together they could need more than
// 2^63 - 1 bytes of arena: an error at the alloc that crosses the limit, exit status 1, no IR.
// CHECK-NOT: Traceback
// CHECK: [[FILE]]:[[# @LINE + 7]]:11: remark: buffer is never used
// CHECK: [[FILE]]:[[# @LINE + 7]]:8: error: with this buffer (memref<1152921504606846976xf32>), the arena may need 9223372036854775934 bytes, more than a signed 64-bit size can hold (9223372036854775807); memory-plan cannot place it
// CHECK-NOT: Traceback
// CHECK-NOT: func.func
func.func @large(%arg: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<1152921504606846976xf32>
  // A buffer that is never used does not count.
  %dead = memref.alloc() : memref<1152921504606846976xf32>
  %b = memref.alloc() : memref<1152921504606846976xf32>
  %va = memref.subview %a[0] [4] [1] : memref<1152921504606846976xf32> to memref<4xf32, strided<[1]>>
  %vb = memref.subview %b[0] [4] [1] : memref<1152921504606846976xf32> to memref<4xf32, strided<[1]>>
  memref.copy %arg, %va : memref<4xf32> to memref<4xf32, strided<[1]>>
  memref.copy %va, %vb : memref<4xf32, strided<[1]>> to memref<4xf32, strided<[1]>>
  memref.copy %vb, %out : memref<4xf32, strided<[1]>> to memref<4xf32>
  return
}
