// RUN: modelopt-opt %s --pass-pipeline='builtin.module(memory-plan,lower-to-gpu{host-llvm=false})' | filecheck %s
// RUN: modelopt-opt %s --pass-pipeline='builtin.module(memory-plan,lower-to-gpu)' | filecheck %s --check-prefix=LLVM

// Two temporaries share one arena; after lowering the arena is the only device allocation,
// no temporary is a memref.alloc, and every op is a kernel launch.
// CHECK-LABEL: func.func @chain(%arg0: memref<8x8xf32>, %arg1: memref<8x8xf32>)
// CHECK: %[[ARENA:.*]] = gpu.alloc () {modelopt.arena} : memref<512xi8>
// CHECK-NOT: gpu.alloc
// CHECK-NOT: memref.alloc
// CHECK-DAG: memref.view %[[ARENA]]
// CHECK: gpu.launch_func @{{.*}}::@{{.*}} blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in
// CHECK: gpu.launch_func
// CHECK: gpu.launch_func
// CHECK-NOT: memref.load
// CHECK-NOT: memref.store
// CHECK: gpu.dealloc %[[ARENA]]
// CHECK: return
// CHECK: gpu.module @{{.*}} [#nvvm.target<chip = "sm_90">]
// CHECK: llvm.func @{{.*}} attributes {gpu.kernel
// CHECK-SAME: nvvm.kernel

// The host function is LLVM; the arena is one mgpuMemAlloc, nothing is malloc'ed.
// LLVM-LABEL: llvm.func @chain
// LLVM: llvm.call @mgpuMemAlloc
// LLVM-NOT: llvm.call @mgpuMemAlloc
// LLVM-NOT: @malloc
// LLVM: gpu.launch_func
// LLVM: llvm.call @mgpuMemFree
// LLVM: gpu.module
func.func @chain(%x: memref<8x8xf32>, %out: memref<8x8xf32>) {
  %a = memref.alloc() : memref<8x8xf32>
  linalg.add ins(%x, %x : memref<8x8xf32>, memref<8x8xf32>) outs(%a : memref<8x8xf32>)
  %b = memref.alloc() : memref<8x8xf32>
  linalg.mul ins(%a, %a : memref<8x8xf32>, memref<8x8xf32>) outs(%b : memref<8x8xf32>)
  linalg.add ins(%b, %x : memref<8x8xf32>, memref<8x8xf32>) outs(%out : memref<8x8xf32>)
  memref.dealloc %a : memref<8x8xf32>
  memref.dealloc %b : memref<8x8xf32>
  return
}
