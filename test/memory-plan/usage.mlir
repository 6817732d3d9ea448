// RUN: %expect_exit 2 modelopt-opt %s --no-such-pass 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: %expect_exit 2 modelopt-opt %s --pass-pipeline='builtin.module(memory-plan,no-such-pass)' 2>&1 | filecheck %s --check-prefix=PIPELINE
// RUN: %expect_exit 2 modelopt-opt %s --pass-pipeline='builtin.module(memory-plan' 2>&1 | filecheck %s --check-prefix=UNBALANCED
// RUN: %expect_exit 2 modelopt-opt %s -x 2>&1 | filecheck %s --check-prefix=OPTION
// RUN: %expect_exit 2 modelopt-opt %s.missing 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: %expect_exit 0 modelopt-opt --list-passes | filecheck %s --check-prefix=LIST

// UNKNOWN: 'no-such-pass' does not refer to a registered pass or pass pipeline
// PIPELINE: 'no-such-pass' does not refer to a registered pass or pass pipeline
// UNBALANCED: modelopt-opt: unbalanced brackets in pipeline
// OPTION: modelopt-opt: unknown option '-x'
// MISSING: modelopt-opt: cannot read
// LIST: clone-shared-fills
// LIST: memory-plan: Reorder ops and place every temporary buffer in one arena at static offsets
// LIST: alignment=64
func.func @f() {
  return
}
