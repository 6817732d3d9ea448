// RUN: modelopt-opt %s --pass-pipeline='builtin.module(one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}, buffer-results-to-out-params{hoist-static-allocs modify-public-functions}, canonicalize, memory-plan{alignment=64}, cse)' | filecheck %s
// RUN: modelopt-opt %s --one-shot-bufferize='bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map' --buffer-results-to-out-params='hoist-static-allocs modify-public-functions' --memory-plan --cse | filecheck %s

// Upstream passes and ours in one pipeline: bufferize a tensor function, then plan it.
// %a and %b are live together; %c is written straight into the out-param.
// CHECK-LABEL: func.func @tensors(%arg0: memref<8x8xf32>, %arg1: memref<8x8xf32>)
// CHECK-SAME: modelopt.arena_size = 512 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<512xi8>
// CHECK-NOT: memref.alloc()
// CHECK-DAG: %[[A:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<512xi8> to memref<8x8xf32>
// CHECK-DAG: %[[B:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<512xi8> to memref<8x8xf32>
// CHECK: linalg.add ins(%arg0, %arg0 : {{.*}}) outs(%[[A]] : memref<8x8xf32>)
// CHECK: linalg.mul ins(%[[A]], %[[A]] : {{.*}}) outs(%[[B]] : memref<8x8xf32>)
// CHECK: linalg.add ins(%[[B]], %arg0 : {{.*}}) outs(%arg1 : memref<8x8xf32>)
func.func @tensors(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %e0 = tensor.empty() : tensor<8x8xf32>
  %a = linalg.add ins(%x, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e0 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e1 = tensor.empty() : tensor<8x8xf32>
  %b = linalg.mul ins(%a, %a : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e1 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e2 = tensor.empty() : tensor<8x8xf32>
  %c = linalg.add ins(%b, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e2 : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %c : tensor<8x8xf32>
}
