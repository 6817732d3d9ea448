// RUN: modelopt-opt %s --reuse-dying-inputs --split-input-file | filecheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>

// The last result is computed in a fresh buffer, reshaped and copied into the out-param: the
// out-param holds it from the start and the copy disappears.
// CHECK-LABEL: func.func @into_output
// CHECK-NOT: memref.alloc
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %arg1 {{\[\[}}0, 1]] : memref<4x4xf32> into memref<16xf32>
// CHECK: %[[VIEW:.*]] = memref.expand_shape %[[FLAT]] {{\[\[}}0, 1]] output_shape [2, 8] : memref<16xf32> into memref<2x8xf32>
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<2x8xf32>) outs(%[[VIEW]] : memref<2x8xf32>)
// CHECK-NOT: memref.copy
// CHECK: return
func.func @into_output(%x: memref<2x8xf32> {modelopt.noalias}, %out: memref<4x4xf32> {modelopt.noalias}) {
  %t = memref.alloc() : memref<2x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : memref<2x8xf32>) outs(%t : memref<2x8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  }
  %flat = memref.collapse_shape %t [[0, 1]] : memref<2x8xf32> into memref<16xf32>
  %v = memref.expand_shape %flat [[0, 1]] output_shape [4, 4] : memref<16xf32> into memref<4x4xf32>
  memref.copy %v, %out : memref<4x4xf32> to memref<4x4xf32>
  memref.dealloc %t : memref<2x8xf32>
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// Without noalias the out-param may be another argument: the copy stays.
// CHECK-LABEL: func.func @may_alias
// CHECK: memref.alloc
// CHECK: memref.copy
func.func @may_alias(%x: memref<4x4xf32>, %out: memref<4x4xf32>) {
  %t = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : memref<4x4xf32>) outs(%t : memref<4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  }
  memref.copy %t, %out : memref<4x4xf32> to memref<4x4xf32>
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// The buffer is read again after the copy (it is not its last use): the copy stays.
// CHECK-LABEL: func.func @read_after_copy
// CHECK: memref.alloc
// CHECK: memref.copy
func.func @read_after_copy(%x: memref<4x4xf32> {modelopt.noalias}, %out: memref<4x4xf32> {modelopt.noalias}, %out2: memref<4x4xf32> {modelopt.noalias}) {
  %t = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : memref<4x4xf32>) outs(%t : memref<4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  }
  memref.copy %t, %out : memref<4x4xf32> to memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%t : memref<4x4xf32>) outs(%out2 : memref<4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// The out-param is also read (its old contents matter): the copy stays.
// CHECK-LABEL: func.func @output_read
// CHECK: memref.alloc
// CHECK: memref.copy
func.func @output_read(%x: memref<4x4xf32> {modelopt.noalias}, %out: memref<4x4xf32> {modelopt.noalias}) {
  %t = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %out : memref<4x4xf32>, memref<4x4xf32>) outs(%t : memref<4x4xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %0 = arith.mulf %in, %in2 : f32
    linalg.yield %0 : f32
  }
  memref.copy %t, %out : memref<4x4xf32> to memref<4x4xf32>
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// Two out-params, each copied straight from its own fresh buffer (no reshape in between): both
// hold their buffers (this crashed the pass: the first merge left the analysis stale and the
// copy's source was the erased alloc).
// CHECK-LABEL: func.func @two_outputs
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<8xf32>) outs(%arg1 : memref<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<8xf32>) outs(%arg2 : memref<8xf32>)
// CHECK-NOT: memref.copy
// CHECK: return
func.func @two_outputs(%x: memref<8xf32> {modelopt.noalias}, %o1: memref<8xf32> {modelopt.noalias}, %o2: memref<8xf32> {modelopt.noalias}) {
  %t = memref.alloc() : memref<8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : memref<8xf32>) outs(%t : memref<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  }
  %u = memref.alloc() : memref<8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : memref<8xf32>) outs(%u : memref<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  }
  memref.copy %t, %o1 : memref<8xf32> to memref<8xf32>
  memref.copy %u, %o2 : memref<8xf32> to memref<8xf32>
  memref.dealloc %t : memref<8xf32>
  return
}
