// RUN: modelopt-opt %s --fold-transposes --split-input-file | filecheck %s

// q @ k^T as torch-mlir lowers it: the transpose of k is a copy that batch_matmul reads. After
// the pass the product reads k itself through a permuted indexing map.
// CHECK-DAG: #[[K:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func.func @scores
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[K]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<8x17x32xf32>, tensor<8x17x32xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.batch_matmul
func.func @scores(%q: tensor<8x17x32xf32>, %k: tensor<8x17x32xf32>) -> tensor<8x17x17xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x32x17xf32>
  %kt = linalg.transpose ins(%k : tensor<8x17x32xf32>) outs(%e : tensor<8x32x17xf32>) permutation = [0, 2, 1]
  %e2 = tensor.empty() : tensor<8x17x17xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<8x17x32xf32>, tensor<8x32x17xf32>) outs(%acc : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  return %s : tensor<8x17x17xf32>
}

// -----

// Through a collapse_shape whose group stays contiguous in the source ([b, h] -> b*h), and a
// transpose of the same collapsed copy that composes back to the source: both disappear.
// CHECK-LABEL: func.func @through_collapse
// CHECK-NOT: linalg.transpose
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1], [2], [3]] : tensor<4x2x17x32xf32> into tensor<8x17x32xf32>
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[FLAT]] : tensor<8x17x32xf32>, tensor<8x17x32xf32>)
// CHECK: return %{{.*}}, %[[FLAT]]
func.func @through_collapse(%q: tensor<8x17x32xf32>, %k: tensor<4x2x17x32xf32>) -> (tensor<8x17x17xf32>, tensor<8x17x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2x32x17xf32>
  %kt = linalg.transpose ins(%k : tensor<4x2x17x32xf32>) outs(%e : tensor<4x2x32x17xf32>) permutation = [0, 1, 3, 2]
  %flat = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<4x2x32x17xf32> into tensor<8x32x17xf32>
  %e2 = tensor.empty() : tensor<8x17x17xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  %s = linalg.batch_matmul ins(%q, %flat : tensor<8x17x32xf32>, tensor<8x32x17xf32>) outs(%acc : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  %e3 = tensor.empty() : tensor<8x17x32xf32>
  %back = linalg.transpose ins(%flat : tensor<8x32x17xf32>) outs(%e3 : tensor<8x17x32xf32>) permutation = [0, 2, 1]
  return %s, %back : tensor<8x17x17xf32>, tensor<8x17x32xf32>
}

// -----

// A weight gradient x^T @ g (linalg.matmul, the transpose on the left).
// CHECK-DAG: #[[XT:.*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-LABEL: func.func @weight_grad
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {indexing_maps = [#[[XT]], #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<68x64xf32>, tensor<68x128xf32>)
func.func @weight_grad(%x: tensor<68x64xf32>, %g: tensor<68x128xf32>) -> tensor<64x128xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x68xf32>
  %xt = linalg.transpose ins(%x : tensor<68x64xf32>) outs(%e : tensor<64x68xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<64x128xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<64x128xf32>) -> tensor<64x128xf32>
  %w = linalg.matmul ins(%xt, %g : tensor<64x68xf32>, tensor<68x128xf32>) outs(%acc : tensor<64x128xf32>) -> tensor<64x128xf32>
  return %w : tensor<64x128xf32>
}

// -----

// The transposed copy is also returned: it has to exist, so nothing changes.
// CHECK-LABEL: func.func @copy_needed
// CHECK: linalg.transpose
// CHECK: linalg.matmul
func.func @copy_needed(%x: tensor<4x8xf32>, %g: tensor<4x8xf32>) -> (tensor<8x8xf32>, tensor<8x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x4xf32>
  %xt = linalg.transpose ins(%x : tensor<4x8xf32>) outs(%e : tensor<8x4xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<8x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %w = linalg.matmul ins(%xt, %g : tensor<8x4xf32>, tensor<4x8xf32>) outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %w, %xt : tensor<8x8xf32>, tensor<8x4xf32>
}

// -----

// A collapse that mixes dims the transpose moved apart cannot be pushed to the source.
// CHECK-LABEL: func.func @not_contiguous
// CHECK: linalg.transpose
// CHECK: linalg.batch_matmul
func.func @not_contiguous(%a: tensor<2x4x3x5xf32>, %b: tensor<8x5x6xf32>) -> tensor<8x3x6xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2x3x5xf32>
  %t = linalg.transpose ins(%a : tensor<2x4x3x5xf32>) outs(%e : tensor<4x2x3x5xf32>) permutation = [1, 0, 2, 3]
  %flat = tensor.collapse_shape %t [[0, 1], [2], [3]] : tensor<4x2x3x5xf32> into tensor<8x3x5xf32>
  %e2 = tensor.empty() : tensor<8x3x6xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x3x6xf32>) -> tensor<8x3x6xf32>
  %r = linalg.batch_matmul ins(%flat, %b : tensor<8x3x5xf32>, tensor<8x5x6xf32>) outs(%acc : tensor<8x3x6xf32>) -> tensor<8x3x6xf32>
  return %r : tensor<8x3x6xf32>
}

// -----

#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// V is a slice of a fused QKV tensor that nothing else reads, transposed right before the
// product: folding would hold all of QKV (three times the copy) where the copy lives one step.
// CHECK-LABEL: func.func @slice_read_late
// CHECK: linalg.transpose
// CHECK: linalg.batch_matmul
func.func @slice_read_late(%a: tensor<3x8x17x32xf32>, %g: tensor<8x17x32xf32>) -> tensor<8x17x17xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<3x8x17x32xf32>
  %qkv = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a : tensor<3x8x17x32xf32>) outs(%e0 : tensor<3x8x17x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<3x8x17x32xf32>
  %slice = tensor.extract_slice %qkv[2, 0, 0, 0] [1, 8, 17, 32] [1, 1, 1, 1] : tensor<3x8x17x32xf32> to tensor<8x17x32xf32>
  %e = tensor.empty() : tensor<8x32x17xf32>
  %vt = linalg.transpose ins(%slice : tensor<8x17x32xf32>) outs(%e : tensor<8x32x17xf32>) permutation = [0, 2, 1]
  %e2 = tensor.empty() : tensor<8x17x17xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  %r = linalg.batch_matmul ins(%g, %vt : tensor<8x17x32xf32>, tensor<8x32x17xf32>) outs(%acc : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  return %r : tensor<8x17x17xf32>
}

// -----

#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// K, a slice of QKV, transposed early and read late, while QKV is read late anyway (Q): the
// copy would be held the whole time for nothing.
// CHECK-LABEL: func.func @slice_held_anyway
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {{.*}}"reduction"
func.func @slice_held_anyway(%a: tensor<3x8x17x32xf32>, %q2: tensor<8x17x32xf32>) -> (tensor<8x17x17xf32>, tensor<8x17x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<3x8x17x32xf32>
  %qkv = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a : tensor<3x8x17x32xf32>) outs(%e0 : tensor<3x8x17x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<3x8x17x32xf32>
  %k = tensor.extract_slice %qkv[1, 0, 0, 0] [1, 8, 17, 32] [1, 1, 1, 1] : tensor<3x8x17x32xf32> to tensor<8x17x32xf32>
  %e = tensor.empty() : tensor<8x32x17xf32>
  %kt = linalg.transpose ins(%k : tensor<8x17x32xf32>) outs(%e : tensor<8x32x17xf32>) permutation = [0, 2, 1]
  %e2 = tensor.empty() : tensor<8x17x17xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  %s = linalg.batch_matmul ins(%q2, %kt : tensor<8x17x32xf32>, tensor<8x32x17xf32>) outs(%acc : tensor<8x17x17xf32>) -> tensor<8x17x17xf32>
  %q = tensor.extract_slice %qkv[0, 0, 0, 0] [1, 8, 17, 32] [1, 1, 1, 1] : tensor<3x8x17x32xf32> to tensor<8x17x32xf32>
  return %s, %q : tensor<8x17x17xf32>, tensor<8x17x32xf32>
}
