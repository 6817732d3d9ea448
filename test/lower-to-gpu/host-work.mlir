// RUN: modelopt-opt %s --lower-to-gpu='host-llvm=false' --verify-diagnostics | filecheck %s

// A call cannot run in a kernel: it stays on the host and says so in a remark, instead of
// silently touching device memory. Everything else still becomes kernels.
// CHECK-LABEL: func.func @calls_host
// CHECK: gpu.launch_func
// CHECK: call @host_fn(%arg0)
func.func private @host_fn(memref<4xf32>)
func.func @calls_host(%x: memref<4xf32>, %out: memref<4xf32>) {
  linalg.add ins(%x, %x : memref<4xf32>, memref<4xf32>) outs(%out : memref<4xf32>)
  // expected-remark @below {{host-side work: 'func.call' reads device memory: it calls a host function ('func.call')}}
  func.call @host_fn(%x) : (memref<4xf32>) -> ()
  return
}
