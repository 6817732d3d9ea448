// RUN: modelopt-opt %s --memory-plan | filecheck %s

// %a is last used through its expand_shape alias, %b through its collapse_shape alias and %c
// through a subview: each buffer is live until its aliases' last use. %a and %b are live
// together, %b and %c too, %a and %c never: %c takes %a's bytes.
// CHECK-LABEL: func.func @aliasing
// CHECK-SAME: modelopt.arena_size = 128 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<128xi8> to memref<16xf32>
// CHECK-DAG: %[[B:.*]] = memref.view %[[ARENA]][%[[C64]]][] : memref<128xi8> to memref<4x4xf32>
// CHECK-DAG: %[[C:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<128xi8> to memref<16xf32>
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %arg0, %[[A]]
// CHECK: %[[E:.*]] = memref.expand_shape %[[A]]
// CHECK: linalg.add ins(%[[E]], %[[E]] : {{.*}}) outs(%[[B]] : memref<4x4xf32>)
// CHECK: %[[CC:.*]] = memref.collapse_shape %[[B]]
// CHECK: linalg.add ins(%[[CC]], %[[CC]] : {{.*}}) outs(%[[C]] : memref<16xf32>)
// CHECK: %[[S:.*]] = memref.subview %[[C]][4] [2] [1]
// CHECK: memref.copy %[[S]], %arg1
func.func @aliasing(%arg0: memref<16xf32>, %out: memref<2xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %arg0, %a : memref<16xf32> to memref<16xf32>
  %e = memref.expand_shape %a [[0, 1]] output_shape [4, 4] : memref<16xf32> into memref<4x4xf32>
  %b = memref.alloc() : memref<4x4xf32>
  linalg.add ins(%e, %e : memref<4x4xf32>, memref<4x4xf32>) outs(%b : memref<4x4xf32>)
  %cc = memref.collapse_shape %b [[0, 1]] : memref<4x4xf32> into memref<16xf32>
  %c = memref.alloc() : memref<16xf32>
  linalg.add ins(%cc, %cc : memref<16xf32>, memref<16xf32>) outs(%c : memref<16xf32>)
  %s = memref.subview %c[4] [2] [1] : memref<16xf32> to memref<2xf32, strided<[1], offset: 4>>
  memref.copy %s, %out : memref<2xf32, strided<[1], offset: 4>> to memref<2xf32>
  return
}
