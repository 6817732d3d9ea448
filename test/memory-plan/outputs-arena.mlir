// RUN: modelopt-opt %s --memory-plan='outputs=arena' | filecheck %s
// RUN: modelopt-opt %s --memory-plan | filecheck %s --check-prefix=ARGS

// outputs=arena: the out-param becomes an arena buffer, live from its first write to the
// return (its view says which argument it was), and the arena becomes the last argument (the
// caller provides it). The output takes
// %h1's bytes once %h1 is dead, so the arena stays at the 4096 bytes of %h1 + %h2, and no
// caller memory is held for the output through the whole call.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%{{.*}}: memref<8x32xf32>, %{{.*}}: memref<32x64xf32>, %{{.*}}: memref<64x64xf32>, %{{.*}}: memref<64x10xf32>, %[[ARENA:.*]]: memref<4096xi8> {modelopt.arena})
// CHECK-SAME: modelopt.arena_size = 4096 : i64
// CHECK-SAME: modelopt.outputs = [{argument = 4 : i64, name = "logits", offset = 0 : i64, type = memref<8x10xf32>}]
// CHECK-NOT: memref.alloc
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C2048:.*]] = arith.constant 2048 : index
// CHECK-DAG: %[[OUT:.*]] = memref.view %[[ARENA]][%[[C0]]][] {modelopt.output = 4 : i64} : memref<4096xi8> to memref<8x10xf32>
// CHECK-DAG: %[[H1:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<4096xi8> to memref<8x64xf32>
// CHECK-DAG: %[[H2:.*]] = memref.view %[[ARENA]][%[[C2048]]][] : memref<4096xi8> to memref<8x64xf32>
// CHECK: linalg.matmul ins(%[[H2]], %{{.*}} : memref<8x64xf32>, memref<64x10xf32>) outs(%[[OUT]] : memref<8x10xf32>)
// CHECK-NOT: memref.dealloc
// CHECK: return

// Without the option the out-param stays an argument and the arena is allocated inside.
// ARGS-LABEL: func.func @mlp
// ARGS-SAME: %{{.*}}: memref<8x10xf32> {modelopt.name = "logits", modelopt.output})
// ARGS: memref.alloc() {alignment = 64 : i64} : memref<4096xi8>
// ARGS-NOT: modelopt.outputs
func.func @mlp(%x: memref<8x32xf32>, %w1: memref<32x64xf32>, %w2: memref<64x64xf32>,
               %w3: memref<64x10xf32>,
               %out: memref<8x10xf32> {modelopt.output, modelopt.name = "logits"}) {
  %cst = arith.constant 0.0 : f32
  %h1 = memref.alloc() : memref<8x64xf32>
  linalg.fill ins(%cst : f32) outs(%h1 : memref<8x64xf32>)
  linalg.matmul ins(%x, %w1 : memref<8x32xf32>, memref<32x64xf32>) outs(%h1 : memref<8x64xf32>)
  %h2 = memref.alloc() : memref<8x64xf32>
  linalg.fill ins(%cst : f32) outs(%h2 : memref<8x64xf32>)
  linalg.matmul ins(%h1, %w2 : memref<8x64xf32>, memref<64x64xf32>) outs(%h2 : memref<8x64xf32>)
  linalg.fill ins(%cst : f32) outs(%out : memref<8x10xf32>)
  linalg.matmul ins(%h2, %w3 : memref<8x64xf32>, memref<64x10xf32>) outs(%out : memref<8x10xf32>)
  memref.dealloc %h1 : memref<8x64xf32>
  memref.dealloc %h2 : memref<8x64xf32>
  return
}

// The output is written first and read back last: it stays live across the whole body, so
// the temporary cannot take its bytes even though the output's last use comes early in the
// order of uses. Unmarked out-params (here %other) stay arguments.
// CHECK-LABEL: func.func @written_early
// CHECK-SAME: (%{{.*}}: memref<16xf32>, %{{.*}}: memref<16xf32>, %[[A2:.*]]: memref<128xi8> {modelopt.arena})
// CHECK-SAME: modelopt.arena_size = 128 : i64
// CHECK-SAME: modelopt.outputs = [{argument = 1 : i64, name = "output0", offset = 0 : i64, type = memref<16xf32>}]
// CHECK-DAG: memref.view %[[A2]][%{{.*}}][] {modelopt.output = 1 : i64} : memref<128xi8> to memref<16xf32>
// CHECK-DAG: memref.view %[[A2]][%{{.*}}][] : memref<128xi8> to memref<16xf32>
func.func @written_early(%x: memref<16xf32>, %out: memref<16xf32> {modelopt.output},
                         %other: memref<16xf32>) {
  memref.copy %x, %out : memref<16xf32> to memref<16xf32>
  %t = memref.alloc() : memref<16xf32>
  memref.copy %x, %t : memref<16xf32> to memref<16xf32>
  memref.copy %t, %other : memref<16xf32> to memref<16xf32>
  memref.dealloc %t : memref<16xf32>
  return
}

// No marked out-param: planned as without the option.
// CHECK-LABEL: func.func @no_outputs
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<64xi8>
// CHECK-NOT: modelopt.outputs
func.func @no_outputs(%x: memref<16xf32>, %y: memref<16xf32>) {
  %t = memref.alloc() : memref<16xf32>
  memref.copy %x, %t : memref<16xf32> to memref<16xf32>
  memref.copy %t, %y : memref<16xf32> to memref<16xf32>
  return
}
