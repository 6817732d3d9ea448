// RUN: modelopt-opt %s --memory-plan | filecheck %s

// i1 takes a byte per element, a 0-d buffer one element, a zero-element buffer nothing.
// The three non-empty buffers are live together: 64 + 64 + 64 bytes after padding.
// CHECK-LABEL: func.func @element_types
// CHECK-SAME: modelopt.arena_size = 192 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<192xi8>
// CHECK-DAG: memref.view %[[ARENA]][%{{.*}}][] : memref<192xi8> to memref<10xi1>
// CHECK-DAG: memref.view %[[ARENA]][%{{.*}}][] : memref<192xi8> to memref<f64>
// CHECK-DAG: memref.view %[[ARENA]][%{{.*}}][] : memref<192xi8> to memref<0x4xf32>
// CHECK-DAG: memref.view %[[ARENA]][%{{.*}}][] : memref<192xi8> to memref<3xbf16>
// CHECK-NOT: memref.alloc()
func.func @element_types(%b: memref<10xi1>, %s: memref<f64>, %e: memref<0x4xf32>, %h: memref<3xbf16>,
                         %ob: memref<10xi1>, %os: memref<f64>, %oe: memref<0x4xf32>, %oh: memref<3xbf16>) {
  %tb = memref.alloc() : memref<10xi1>
  %ts = memref.alloc() : memref<f64>
  %te = memref.alloc() : memref<0x4xf32>
  %th = memref.alloc() : memref<3xbf16>
  memref.copy %b, %tb : memref<10xi1> to memref<10xi1>
  memref.copy %s, %ts : memref<f64> to memref<f64>
  memref.copy %e, %te : memref<0x4xf32> to memref<0x4xf32>
  memref.copy %h, %th : memref<3xbf16> to memref<3xbf16>
  memref.copy %tb, %ob : memref<10xi1> to memref<10xi1>
  memref.copy %ts, %os : memref<f64> to memref<f64>
  memref.copy %te, %oe : memref<0x4xf32> to memref<0x4xf32>
  memref.copy %th, %oh : memref<3xbf16> to memref<3xbf16>
  return
}
