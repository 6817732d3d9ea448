// RUN: modelopt-opt %s --pass-pipeline='builtin.module(memory-plan,lower-to-gpu{host-llvm=false})' | filecheck %s

// A full reduction and 0-d ops do not map to parallel loops: they become one-thread kernels
// (grid and block 1x1x1), so the host never loads or stores device memory.
// CHECK-LABEL: func.func @mean
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: gpu.alloc () {modelopt.arena} : memref<64xi8>
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @{{.*}} blocks in (%[[C1]], %[[C1]], %[[C1]]) threads in (%[[C1]], %[[C1]], %[[C1]])
// CHECK-NOT: scf.for
// CHECK-NOT: memref.load
// CHECK-NOT: memref.store
// CHECK: return
func.func @mean(%x: memref<16xf32>, %out: memref<f32>) {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 16.0 : f32
  %sum = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<f32>)
  linalg.reduce ins(%x : memref<16xf32>) outs(%sum : memref<f32>) dimensions = [0]
    (%in: f32, %init: f32) {
      %0 = arith.addf %in, %init : f32
      linalg.yield %0 : f32
    }
  linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []}
      ins(%sum : memref<f32>) outs(%out : memref<f32>) {
    ^bb0(%in: f32, %o: f32):
      %1 = arith.divf %in, %n : f32
      linalg.yield %1 : f32
  }
  return
}
