// Text on which MLIR's parser throws instead of emitting a diagnostic is an error, exit 1,
// not a traceback (found by mutation fuzzing: a type where an iterator type belongs).
// RUN: %expect_exit 1 modelopt-opt %s --memory-plan 2>&1 | filecheck %s
// CHECK: error: cannot parse the input: MemoryError: std::bad_alloc
// CHECK-NOT: Traceback

#id = affine_map<(d0) -> (d0)>
func.func @f(%a: memref<4xf32>) {
  linalg.generic {indexing_maps = [#id], iterator_types = [i8]} outs(%a : memref<4xf32>) {
  ^bb0(%x: f32):
    linalg.yield %x : f32
  }
  return
}
