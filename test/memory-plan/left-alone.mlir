// RUN: modelopt-opt %s --memory-plan --split-input-file --verify-diagnostics | filecheck %s

// A dynamic-shape alloc stays an ordinary alloc, with a remark; the static one is planned.
// CHECK-LABEL: func.func @dynamic
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<64xi8>
// CHECK: memref.alloc(%arg0) : memref<?xf32>
func.func @dynamic(%n: index, %arg: memref<4xf32>, %out: memref<4xf32>) {
  // expected-remark @below {{buffer left outside the arena: it has a dynamic shape}}
  %d = memref.alloc(%n) : memref<?xf32>
  %s = memref.alloc() : memref<4xf32>
  memref.copy %arg, %s : memref<4xf32> to memref<4xf32>
  memref.copy %s, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %d : memref<?xf32>
  return
}

// -----

// A returned buffer escapes: it must outlive the function, so it cannot live in the arena.
// CHECK-LABEL: func.func @returned
// CHECK-NOT: memref.view
// CHECK: %[[R:.*]] = memref.alloc() : memref<4xf32>
// CHECK: return %[[R]]
func.func @returned(%arg: memref<4xf32>) -> memref<4xf32> {
  // expected-remark @below {{buffer left outside the arena: it is returned from the function}}
  %r = memref.alloc() : memref<4xf32>
  %v = memref.subview %r[0] [4] [1] : memref<4xf32> to memref<4xf32, strided<[1]>>
  memref.copy %arg, %v : memref<4xf32> to memref<4xf32, strided<[1]>>
  return %r : memref<4xf32>
}

// -----

// A buffer passed to a call escapes, and the call is a barrier we do not reorder across.
// CHECK-LABEL: func.func @called
// CHECK: %[[C:.*]] = memref.alloc() : memref<4xf32>
// CHECK: call @consume(%[[C]])
func.func private @consume(memref<4xf32>)
func.func @called(%arg: memref<4xf32>) {
  // expected-remark @below {{buffer left outside the arena: it is passed to a call}}
  %c = memref.alloc() : memref<4xf32>
  memref.copy %arg, %c : memref<4xf32> to memref<4xf32>
  // expected-remark @below {{'func.call' has memory effects memory-plan does not model; it is ordered as a barrier}}
  func.call @consume(%c) : (memref<4xf32>) -> ()
  return
}

// -----

// An alloc nested in a loop body is not a top-level buffer: it stays where it is.
// CHECK-LABEL: func.func @nested
// CHECK: scf.for
// CHECK-NEXT: memref.alloca() : memref<4xf32>
func.func @nested(%arg: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    // expected-remark @below {{buffer left outside the arena: it is allocated inside a region}}
    %t = memref.alloca() : memref<4xf32>
    memref.copy %arg, %t : memref<4xf32> to memref<4xf32>
  }
  return
}
