// The bundled training steps: one arena per function, no temporary left as an alloc.
// RUN: modelopt-opt %examples/mlp_sgd.mlir --memory-plan | filecheck %s
// RUN: modelopt-opt %examples/gpt2_adam.mlir --memory-plan | filecheck %s
// The same MLP step in out-param form (captured before state was updated in place).
// RUN: modelopt-opt %S/../Inputs/mlp_sgd_out_params.mlir --memory-plan | filecheck %s

// CHECK-LABEL: func.func @main
// CHECK-SAME: modelopt.arena_size = [[SIZE:[0-9]+]] : i64
// CHECK-NEXT: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<[[SIZE]]xi8>
// CHECK-NOT: memref.alloc
// CHECK: memref.view %[[ARENA]]
// CHECK-NOT: memref.alloc
// CHECK: return
