// The bundled training steps: after memory-plan and lower-to-gpu, the arena is the only device
// allocation (one mgpuMemAlloc), nothing is malloc'ed and all work is kernel launches; no
// host-side work is left, so no remark is printed.
// RUN: modelopt-opt %examples/mlp_sgd.mlir --pass-pipeline='builtin.module(memory-plan,lower-to-gpu)' 2>&1 | filecheck %s
// RUN: modelopt-opt %examples/gpt2_adam.mlir --pass-pipeline='builtin.module(memory-plan,lower-to-gpu)' 2>&1 | filecheck %s

// CHECK-NOT: remark
// CHECK-LABEL: llvm.func @main
// CHECK: llvm.call @mgpuMemAlloc
// CHECK-NOT: llvm.call @mgpuMemAlloc
// CHECK-NOT: @malloc
// CHECK: gpu.launch_func
// CHECK: llvm.call @mgpuMemFree
// CHECK-NOT: llvm.call @mgpuMemAlloc
// CHECK: gpu.module @main_kernel
