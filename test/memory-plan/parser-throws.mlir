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
