// RUN: %expect_exit 1 modelopt-opt %s --memory-plan 2>&1 | filecheck %s -DFILE=%s

// Malformed IR: a diagnostic with file:line:col, exit status 1, nothing on stdout.
// CHECK: [[FILE]]:[[# @LINE + 4]]:15: error: use of undeclared SSA value name
// CHECK-NOT: func.func
func.func @broken(%arg0: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  memref.copy %undefined, %a : memref<4xf32> to memref<4xf32>
  return
}
