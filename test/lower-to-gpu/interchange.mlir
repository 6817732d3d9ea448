// RUN: modelopt-opt %s --lower-to-gpu='host-llvm=false' | filecheck %s

// A column sum iterates [reduction, parallel]. Its loops are interchanged so the parallel
// dim is the grid and each kernel instance loops over the rows: one launch, no host loop.
// CHECK-LABEL: func.func @column_sum
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C10:.*]] = arith.constant 10 : index
// CHECK-NOT: scf.for
// CHECK: gpu.launch_func @[[M:.*]]::@{{.*}} blocks in (%[[C10]], %[[C1]], %[[C1]])
// CHECK-NOT: gpu.launch_func
// CHECK: return
// CHECK: gpu.module @[[M]]
// CHECK: llvm.cond_br
func.func @column_sum(%x: memref<8x10xf32>, %out: memref<1x10xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (0, d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x10xf32>) outs(%out : memref<1x10xf32>) {
    ^bb0(%in: f32, %acc: f32):
      %0 = arith.addf %in, %acc : f32
      linalg.yield %0 : f32
  }
  return
}
