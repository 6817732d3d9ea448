// RUN: modelopt-opt %s --lower-to-gpu='host-llvm=false' | filecheck %s

// A constant global read by a kernel is re-materialised inside the kernel: outlining copies
// it into the kernel module, and the host passes no host-memory pointer to the kernel.
// CHECK-LABEL: func.func @add_bias
// CHECK-NOT: memref.get_global
// CHECK: gpu.launch_func @[[M:.*]]::@{{.*}} args(
// CHECK-NOT: get_global
// CHECK: return
// CHECK: gpu.module @[[M]]
// CHECK-DAG: llvm.mlir.global private constant @bias
// CHECK-DAG: llvm.mlir.addressof @bias
memref.global "private" constant @bias : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @add_bias(%x: memref<4xf32>, %out: memref<4xf32>) {
  %b = memref.get_global @bias : memref<4xf32>
  linalg.add ins(%x, %b : memref<4xf32>, memref<4xf32>) outs(%out : memref<4xf32>)
  return
}
