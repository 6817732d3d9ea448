// RUN: %expect_exit 1 modelopt-opt %s --memory-plan='outputs=arena' 2>&1 | filecheck %s -DFILE=%s
// RUN: modelopt-opt %s --memory-plan='outputs=arena' --verify-diagnostics

// An out-param that outputs=arena cannot put in the arena is an error at the argument: exit
// status 1, no IR printed (the other functions are not rewritten either).
// CHECK-DAG: [[FILE]]:[[# @LINE + 2]]:39: error: output argument 1 of type memref<?xf32> cannot be placed in the arena: it has a dynamic shape
// expected-error @below {{output argument 1 of type memref<?xf32> cannot be placed in the arena: it has a dynamic shape}}
func.func @dynamic(%x: memref<?xf32>, %out: memref<?xf32> {modelopt.output}) {
  memref.copy %x, %out : memref<?xf32> to memref<?xf32>
  return
}

// CHECK-DAG: [[FILE]]:[[# @LINE + 3]]:39: error: an output cannot be placed in the arena: it is passed to a call
func.func private @sink(memref<4xf32>)
// expected-error @below {{an output cannot be placed in the arena: it is passed to a call}}
func.func @escapes(%x: memref<4xf32>, %out: memref<4xf32> {modelopt.output}) {
  memref.copy %x, %out : memref<4xf32> to memref<4xf32>
  func.call @sink(%out) : (memref<4xf32>) -> ()
  return
}

// CHECK-DAG: [[FILE]]:[[# @LINE + 2]]:25: error: output argument 0 of type i32 cannot be placed in the arena: it is not a memref
// expected-error @below {{output argument 0 of type i32 cannot be placed in the arena: it is not a memref}}
func.func @not_a_memref(%n: i32 {modelopt.output}) {
  return
}

// CHECK-NOT: func.func
func.func @fine(%x: memref<4xf32>, %out: memref<4xf32> {modelopt.output}) {
  %t = memref.alloc() : memref<4xf32>
  memref.copy %x, %t : memref<4xf32> to memref<4xf32>
  memref.copy %t, %out : memref<4xf32> to memref<4xf32>
  return
}
