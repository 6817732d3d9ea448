// RUN: modelopt-opt %s --reuse-dying-inputs --split-input-file | filecheck %s

#id = affine_map<(d0) -> (d0)>

// A concatenation: each piece is computed in a fresh buffer and copied into its slice. The
// pieces are computed in their slices instead (the sliced buffer's alloc moves up to the first).
// CHECK-LABEL: func.func @concat
// CHECK: %[[C:.*]] = memref.alloc() : memref<8xf32>
// CHECK: %[[LO:.*]] = memref.subview %[[C]][0] [4] [1]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[LO]] : memref<4xf32, strided<[1]>>)
// CHECK: %[[HI:.*]] = memref.subview %[[C]][4] [4] [1]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[HI]] : memref<4xf32, strided<[1], offset: 4>>)
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
func.func @concat(%out: memref<8xf32> {modelopt.noalias}) {
  %one = arith.constant 1.0 : f32
  %two = arith.constant 2.0 : f32
  %a = memref.alloc() : memref<4xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<4xf32>)
  %b = memref.alloc() : memref<4xf32>
  linalg.fill ins(%two : f32) outs(%b : memref<4xf32>)
  %c = memref.alloc() : memref<8xf32>
  %lo = memref.subview %c[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  memref.copy %a, %lo : memref<4xf32> to memref<4xf32, strided<[1]>>
  %hi = memref.subview %c[4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
  memref.copy %b, %hi : memref<4xf32> to memref<4xf32, strided<[1], offset: 4>>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%c : memref<8xf32>) outs(%out : memref<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// The sliced buffer is read while the piece is computed: writing the piece there early would
// change what that read sees.
// CHECK-LABEL: func.func @read_in_between
// CHECK: memref.alloc() : memref<4xf32>
// CHECK: memref.copy
func.func @read_in_between(%out: memref<8xf32> {modelopt.noalias}) {
  %one = arith.constant 1.0 : f32
  %c = memref.alloc() : memref<8xf32>
  linalg.fill ins(%one : f32) outs(%c : memref<8xf32>)
  %a = memref.alloc() : memref<4xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%c : memref<8xf32>) outs(%out : memref<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  %lo = memref.subview %c[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  memref.copy %a, %lo : memref<4xf32> to memref<4xf32, strided<[1]>>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%c : memref<8xf32>) outs(%out : memref<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %0 = arith.addf %in, %o : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

#id = affine_map<(d0) -> (d0)>

// The piece is read again after the copy: it outlives the copy and keeps its own buffer.
// CHECK-LABEL: func.func @piece_read_later
// CHECK: memref.alloc() : memref<4xf32>
// CHECK: memref.copy
func.func @piece_read_later(%out: memref<8xf32> {modelopt.noalias}, %tail: memref<4xf32> {modelopt.noalias}) {
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<4xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<4xf32>)
  %c = memref.alloc() : memref<8xf32>
  linalg.fill ins(%one : f32) outs(%c : memref<8xf32>)
  %lo = memref.subview %c[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  memref.copy %a, %lo : memref<4xf32> to memref<4xf32, strided<[1]>>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%c : memref<8xf32>) outs(%out : memref<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<4xf32>) outs(%tail : memref<4xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  return
}
