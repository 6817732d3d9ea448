// RUN: modelopt-opt %s --memory-plan | filecheck %s

// Three 64-byte temporaries in a chain: %a dies when %c is born, so %c reuses %a's bytes.
// CHECK-LABEL: func.func @two_temps
// CHECK-SAME: modelopt.arena_size = 128 : i64, modelopt.lower_bound = 128 : i64, modelopt.program_order_peak = 128 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<128xi8> to memref<4x4xf32>
// CHECK-DAG: %[[B:.*]] = memref.view %[[ARENA]][%[[C64]]][] : memref<128xi8> to memref<4x4xf32>
// CHECK-DAG: %[[C:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<128xi8> to memref<4x4xf32>
// CHECK-NOT: memref.alloc
// CHECK: linalg.copy ins(%arg0 : memref<4x4xf32>) outs(%[[A]] : memref<4x4xf32>)
// CHECK: linalg.add ins(%[[A]], %[[A]] : {{.*}}) outs(%[[B]] : memref<4x4xf32>)
// CHECK: linalg.add ins(%[[B]], %[[B]] : {{.*}}) outs(%[[C]] : memref<4x4xf32>)
// CHECK: memref.copy %[[C]], %arg1
// CHECK-NOT: memref.dealloc %{{.*}} : memref<4x4xf32>
// CHECK: memref.dealloc %[[ARENA]] : memref<128xi8>
// CHECK-NEXT: return
func.func @two_temps(%arg0: memref<4x4xf32>, %out: memref<4x4xf32>) {
  %a = memref.alloc() : memref<4x4xf32>
  linalg.copy ins(%arg0 : memref<4x4xf32>) outs(%a : memref<4x4xf32>)
  %b = memref.alloc() : memref<4x4xf32>
  linalg.add ins(%a, %a : memref<4x4xf32>, memref<4x4xf32>) outs(%b : memref<4x4xf32>)
  %c = memref.alloc() : memref<4x4xf32>
  linalg.add ins(%b, %b : memref<4x4xf32>, memref<4x4xf32>) outs(%c : memref<4x4xf32>)
  memref.copy %c, %out : memref<4x4xf32> to memref<4x4xf32>
  memref.dealloc %a : memref<4x4xf32>
  memref.dealloc %b : memref<4x4xf32>
  memref.dealloc %c : memref<4x4xf32>
  return
}

// Sizes are padded to the 64-byte alignment: 100 bytes (largest, placed first) at 0 and
// 40 bytes at 128, live together: 192 bytes. No deallocs in, none out.
// CHECK-LABEL: func.func @padded
// CHECK-SAME: modelopt.arena_size = 192 : i64
// CHECK: %[[ARENA2:.*]] = memref.alloc() {alignment = 64 : i64} : memref<192xi8>
// CHECK-DAG: %[[Z:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[O128:.*]] = arith.constant 128 : index
// CHECK-DAG: memref.view %[[ARENA2]][%[[Z]]][] : memref<192xi8> to memref<25xf32>
// CHECK-DAG: memref.view %[[ARENA2]][%[[O128]]][] : memref<192xi8> to memref<10xf32>
// CHECK-NOT: memref.dealloc
// CHECK: return
func.func @padded(%arg0: memref<25xf32>, %arg1: memref<10xf32>, %out0: memref<25xf32>, %out1: memref<10xf32>) {
  %big = memref.alloc() : memref<25xf32>
  %small = memref.alloc() : memref<10xf32>
  memref.copy %arg0, %big : memref<25xf32> to memref<25xf32>
  memref.copy %arg1, %small : memref<10xf32> to memref<10xf32>
  memref.copy %big, %out0 : memref<25xf32> to memref<25xf32>
  memref.copy %small, %out1 : memref<10xf32> to memref<10xf32>
  return
}

// A function without temporaries is left as it is, but still annotated.
// CHECK-LABEL: func.func @no_temps
// CHECK-SAME: modelopt.arena_size = 0 : i64
// CHECK-NOT: memref.alloc
// CHECK: memref.copy
func.func @no_temps(%arg0: memref<4xf32>, %out: memref<4xf32>) {
  memref.copy %arg0, %out : memref<4xf32> to memref<4xf32>
  return
}

// Declarations have nothing to plan.
// CHECK: func.func private @external(memref<4xf32>)
func.func private @external(memref<4xf32>)
