// Outputs that cannot be written are refused before any work: exit 2, nothing written.
// RUN: rm -rf %t && mkdir -p %t && touch %t/file
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan -o %t/missing/p.mlir 2>&1 | filecheck %s --check-prefix=OUT
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan --plan-report=%t/missing/r.json 2>&1 | filecheck %s --check-prefix=REPORT
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan --emit-ptx=%t/file 2>&1 | filecheck %s --check-prefix=PTX
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan -o %t 2>&1 | filecheck %s --check-prefix=DIR
// RUN: not ls %t/missing

// OUT: modelopt-opt: cannot write '{{.*}}/missing/p.mlir': directory '{{.*}}/missing' does not exist
// REPORT: modelopt-opt: cannot write '{{.*}}/missing/r.json': directory '{{.*}}/missing' does not exist
// PTX: modelopt-opt: cannot write directory '{{.*}}/file': it exists and is not a directory
// DIR: modelopt-opt: cannot write '{{.*}}': it is a directory
func.func @f() {
  return
}
