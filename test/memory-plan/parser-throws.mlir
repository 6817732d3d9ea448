// Text on which MLIR's parser would crash the process (std::bad_alloc, segfault) is refused
// with a located error, exit 1 (found by mutation fuzzing: iterator_types entries of
// linalg.generic that are not strings, a malformed dimensions array of linalg.reduce).
// RUN: %expect_exit 1 modelopt-opt %s --split-input-file --memory-plan 2>&1 | filecheck %s -DFILE=%s
// RUN: %expect_exit 1 modelopt-opt %s --split-input-file --memory-plan 2>&1 | filecheck %s --check-prefix=NOTRACE
// NOTRACE-NOT: Traceback

#id = affine_map<(d0) -> (d0)>
func.func @type(%a: memref<4xf32>) {
  // CHECK: [[FILE]]:11:60: error: iterator_types entries of linalg.generic must be strings such as "parallel", got 'i8'
  linalg.generic {indexing_maps = [#id], iterator_types = [i8]} outs(%a : memref<4xf32>) {
  ^bb0(%x: f32):
    linalg.yield %x : f32
  }
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @integer(%a: memref<4x4xf32>) {
  // CHECK: [[FILE]]:23:72: error: iterator_types entries of linalg.generic must be strings such as "parallel", got '0'
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", 0]} outs(%a : memref<4x4xf32>) {
  ^bb0(%x: f32):
    linalg.yield %x : f32
  }
  return
}


// -----

func.func @reduce(%x: memref<16xf32>, %s: memref<f32>) {
  // CHECK: [[FILE]]:35:78: error: linalg.reduce dimensions: expected an integer array like [0, 1]
  linalg.reduce ins(%x : memref<16xf32>) outs(%s : memref<f32>) dimensions = [0
  return
}

// -----

// A block label defined twice in one region, after values used before any definition: MLIR's
// parser reports the redefinition, then aborts on a corrupted heap (mutant 2396 of seed 8).
// Labels of the same name in different regions are fine.
// CHECK: [[FILE]]:[[# @LINE + 6]]:5: error: redefinition of block '^bb0'
#map = affine_map<(d0, d1) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d0, 0)>
      %4 = arith.cmpf ogt, %in, %out : f32
    linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel"]} ins(%collapse_shape_12, %expand_shape_15 : memref<8x10xf32>, memref<8x1xf32>) outs(%collapse_shape_12 : memref<8x10xf32>) {
    ^bb0(%in: f32, %in_47: f32, %out: f32):
    ^bb0(%in: f32, %out: f32, %out_47: i64):
