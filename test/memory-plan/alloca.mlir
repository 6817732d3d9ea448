// RUN: modelopt-opt %s --memory-plan | filecheck %s

// Stack buffers only: the arena is a stack buffer too, and nothing is freed.
// CHECK-LABEL: func.func @stack_only
// CHECK: %[[ARENA:.*]] = memref.alloca() {alignment = 64 : i64} : memref<128xi8>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
// CHECK: return
func.func @stack_only(%arg0: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloca() : memref<16xf32>
  %b = memref.alloca() : memref<16xf32>
  memref.copy %arg0, %a : memref<16xf32> to memref<16xf32>
  linalg.add ins(%a, %a : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  memref.copy %b, %out : memref<16xf32> to memref<16xf32>
  return
}

// Heap and stack buffers share a heap arena, freed at the return since the stack buffer
// was freed there.
// CHECK-LABEL: func.func @mixed
// CHECK: %[[ARENA2:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK-NOT: memref.alloca
// CHECK: memref.dealloc %[[ARENA2]] : memref<128xi8>
// CHECK-NEXT: return
func.func @mixed(%arg0: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloca() : memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %arg0, %a : memref<16xf32> to memref<16xf32>
  linalg.add ins(%a, %a : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  memref.copy %b, %out : memref<16xf32> to memref<16xf32>
  return
}
