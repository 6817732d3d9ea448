// RUN: %expect_exit 1 modelopt-opt %s --memory-plan 2>&1 | filecheck %s -DFILE=%s
// RUN: modelopt-opt %s --memory-plan --verify-diagnostics

// modelopt.noalias names a buffer that aliases nothing else; on a scalar it means nothing and is
// an error at the argument, exit status 1, no IR printed.
// CHECK: [[FILE]]:[[# @LINE + 4]]:27: error: argument 1 of type i32 is marked noalias; only memref arguments can be
// CHECK-NOT: func.func
func.func @scalar_noalias(%p: memref<4xf32> {modelopt.noalias},
                          // expected-error @below {{argument 1 of type i32 is marked noalias; only memref arguments can be}}
                          %n: i32 {modelopt.noalias}) {
  return
}
