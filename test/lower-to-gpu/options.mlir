// RUN: modelopt-opt %s --lower-to-gpu='chip=sm_90a host-llvm=false' | filecheck %s --check-prefix=SM90A
// RUN: %expect_exit 1 modelopt-opt %s --pass-pipeline='builtin.module(memory-plan,lower-to-gpu{chip=sm_42})' 2>&1 | filecheck %s --check-prefix=UNKNOWN -DFILE=%s
// RUN: %expect_exit 1 modelopt-opt %s --lower-to-gpu='chip=volta' 2>&1 | filecheck %s --check-prefix=MALFORMED -DFILE=%s
// RUN: %expect_exit 2 modelopt-opt %s --lower-to-gpu='bogus=1' 2>&1 | filecheck %s --check-prefix=BADNAME

// SM90A: gpu.module @{{.*}} [#nvvm.target<chip = "sm_90a">]
// An unknown chip is a diagnostic at the function, exit status 1, and nothing on stdout.
// UNKNOWN: [[FILE]]:[[# @LINE + 5]]:1: error: lower-to-gpu: unknown chip 'sm_42' (known: sm_75,
// UNKNOWN-NOT: func.func
// MALFORMED: [[FILE]]:[[# @LINE + 3]]:1: error: lower-to-gpu: invalid chip 'volta': expected sm_XX or sm_XXa
// MALFORMED-NOT: func.func
// BADNAME: modelopt-opt: pass 'lower-to-gpu' has no option 'bogus' (options: chip, host-llvm)
func.func @copy(%x: memref<4xf32>, %out: memref<4xf32>) {
  memref.copy %x, %out : memref<4xf32> to memref<4xf32>
  return
}
