// RUN: modelopt-opt %s --reuse-dying-inputs --split-input-file | filecheck %s

#id = affine_map<(d0) -> (d0)>

// A chain of elementwise ops whose inputs die at each step runs in one buffer.
// CHECK-LABEL: func.func @chain
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xf32>
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<16xf32>) outs(%[[A]] : memref<16xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[A]] : memref<16xf32>) outs(%[[A]] : memref<16xf32>)
// CHECK-NOT: memref.copy
// CHECK: linalg.generic {{.*}} ins(%[[A]] : memref<16xf32>) outs(%arg1 : memref<16xf32>)
func.func @chain(%arg0: memref<16xf32>, %arg1: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%arg0 : memref<16xf32>) outs(%a : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  }
  %b = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<16xf32>) outs(%b : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  }
  %c = memref.alloc() : memref<16xf32>
  memref.copy %b, %c : memref<16xf32> to memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%c : memref<16xf32>) outs(%arg1 : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// The input is read again later: the result needs its own buffer.
// CHECK-LABEL: func.func @input_read_later
// CHECK: memref.alloc() : memref<16xf32>
// CHECK: memref.alloc() : memref<16xf32>
func.func @input_read_later(%arg0: memref<16xf32>, %arg1: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %arg0, %a : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<16xf32>) outs(%b : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%a, %b : memref<16xf32>, memref<16xf32>) outs(%arg1 : memref<16xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %0 = arith.addf %in, %in2 : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>

// A transposed read would see elements already overwritten: no sharing.
// CHECK-LABEL: func.func @transposed
// CHECK: memref.alloc() : memref<4x4xf32>
// CHECK: memref.alloc() : memref<4x4xf32>
func.func @transposed(%arg0: memref<4x4xf32>, %arg1: memref<4x4xf32>) {
  %a = memref.alloc() : memref<4x4xf32>
  memref.copy %arg0, %a : memref<4x4xf32> to memref<4x4xf32>
  %b = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#tr, #id], iterator_types = ["parallel", "parallel"]} ins(%a : memref<4x4xf32>) outs(%b : memref<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  memref.copy %b, %arg1 : memref<4x4xf32> to memref<4x4xf32>
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// The op reads the old contents of its output: it is not a fresh result.
// CHECK-LABEL: func.func @reads_output
// CHECK: memref.alloc() : memref<16xf32>
// CHECK: memref.alloc() : memref<16xf32>
func.func @reads_output(%arg0: memref<16xf32>, %arg1: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %arg0, %a : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<16xf32>) outs(%b : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  }
  memref.copy %b, %arg1 : memref<16xf32> to memref<16xf32>
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// The input is a reshape of the whole dying buffer: the result takes that reshape's place.
// CHECK-LABEL: func.func @through_reshape
// CHECK: %[[A:.*]] = memref.alloc() : memref<4x4x1xf32>
// CHECK: %[[V:.*]] = memref.collapse_shape %[[A]]
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} ins(%[[V]] : memref<4x4xf32>) outs(%[[V]] : memref<4x4xf32>)
// CHECK: memref.copy %[[V]], %arg1
func.func @through_reshape(%arg0: memref<4x4x1xf32>, %arg1: memref<4x4xf32>) {
  %a = memref.alloc() : memref<4x4x1xf32>
  memref.copy %arg0, %a : memref<4x4x1xf32> to memref<4x4x1xf32>
  %v = memref.collapse_shape %a [[0], [1, 2]] : memref<4x4x1xf32> into memref<4x4xf32>
  %b = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%v : memref<4x4xf32>) outs(%b : memref<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  }
  memref.copy %b, %arg1 : memref<4x4xf32> to memref<4x4xf32>
  return
}
