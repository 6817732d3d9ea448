// Input that is not UTF-8 is a diagnostic naming the file, line, column and byte offset
// (exit 1, like a parse error), from a file or from stdin.
// RUN: printf 'func.func @f() {\n  return // caf\351\n}\n' > %t.mlir
// RUN: %expect_exit 1 modelopt-opt %t.mlir --memory-plan 2>&1 | filecheck %s -DFILE=%t.mlir
// RUN: %expect_exit 1 modelopt-opt - --memory-plan < %t.mlir 2>&1 | filecheck %s -DFILE="<stdin>"
// RUN: %expect_exit 0 modelopt-opt %s --memory-plan | filecheck %s --check-prefix=UTF8

// CHECK: [[FILE]]:2:16: error: not UTF-8: byte 0xe9 at offset 32
// CHECK-NOT: Traceback

// Valid UTF-8 beyond ASCII is fine: café, 内存.
// UTF8-LABEL: func.func @f
func.func @f() {
  return
}
