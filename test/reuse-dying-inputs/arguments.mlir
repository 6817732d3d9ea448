// RUN: modelopt-opt %s --reuse-dying-inputs --split-input-file | filecheck %s

#id = affine_map<(d0) -> (d0)>

// m' = 0.9 * m + g: the product lives in %m itself between the last read of m's old value and
// the write of its new value, as torch.optim's in-place mul_ does.
// CHECK-LABEL: func.func @moment
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<16xf32>) outs(%arg0 : memref<16xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %arg1 : memref<16xf32>, memref<16xf32>) outs(%arg0 : memref<16xf32>)
func.func @moment(%m: memref<16xf32> {modelopt.noalias, modelopt.updated}, %g: memref<16xf32> {modelopt.noalias}) {
  %c = arith.constant 0.9 : f32
  %t = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%m : memref<16xf32>) outs(%t : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %c : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%t, %g : memref<16xf32>, memref<16xf32>) outs(%m : memref<16xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %0 = arith.addf %in, %in2 : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// The old value is still read through a view before the new one is written: no sharing.
// CHECK-LABEL: func.func @read_through_view
// CHECK: memref.alloc() : memref<16xf32>
func.func @read_through_view(%m: memref<16xf32> {modelopt.noalias, modelopt.updated}, %g: memref<16xf32> {modelopt.noalias}, %out: memref<4x4xf32> {modelopt.noalias}) {
  %c = arith.constant 0.9 : f32
  %v = memref.expand_shape %m [[0, 1]] output_shape [4, 4] : memref<16xf32> into memref<4x4xf32>
  %t = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%m : memref<16xf32>) outs(%t : memref<16xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %c : f32
    linalg.yield %0 : f32
  }
  memref.copy %v, %out : memref<4x4xf32> to memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%t, %g : memref<16xf32>, memref<16xf32>) outs(%m : memref<16xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %0 = arith.addf %in, %in2 : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// Without modelopt.updated the caller does not expect the argument to change: no sharing.
// CHECK-LABEL: func.func @not_updated
// CHECK: memref.alloc() : memref<16xf32>
func.func @not_updated(%m: memref<16xf32> {modelopt.noalias}, %g: memref<16xf32> {modelopt.noalias}, %out: memref<16xf32> {modelopt.noalias}) {
  %c = arith.constant 0.9 : f32
  %t = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%m : memref<16xf32>) outs(%t : memref<16xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %c : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%t, %g : memref<16xf32>, memref<16xf32>) outs(%out : memref<16xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %0 = arith.addf %in, %in2 : f32
    linalg.yield %0 : f32
  }
  return
}
