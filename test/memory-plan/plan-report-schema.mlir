// --plan-report writes a plan file (python/modelopt_mlir/plan_json.py): schema and version, then
// per function the numbers, the chosen order and the buffers. Each op is named by a stable id,
// FUNCTION/opINDEX, INDEX being its position among the function's top-level ops in this file,
// with its name and its file:line:col here.
// RUN: modelopt-opt %s --memory-plan --plan-report=%t.json -o /dev/null
// RUN: filecheck %s < %t.json

// CHECK: "schema": "modelopt-mlir/plan",
// CHECK-NEXT: "version": 1,
// CHECK-NEXT: "source": "{{.*}}plan-report-schema.mlir",
// CHECK-NEXT: "functions": [
// CHECK: "function": "two_chains",
// CHECK: "program_order_peak": 576,
// CHECK-NEXT: "chosen_order_peak": 320,
// CHECK-NEXT: "order_lower_bound": 320,
// CHECK-NEXT: "arena_size": 320,
// CHECK-NEXT: "gap": 0.0,
// CHECK-NEXT: "status": "optimal",

// The order finishes the first chain (op8 reduces %a into %s0, op12 copies it out) before the
// second chain's fill of %b (op5) and reduction (op11): op5 moved after op8.
// CHECK: "order": [
// CHECK: "id": "two_chains/op3",
// CHECK-NEXT: "index": 3,
// CHECK-NEXT: "name": "linalg.fill",
// CHECK-NEXT: "loc": "{{.*}}plan-report-schema.mlir:[[# @LINE + 38]]:3"
// CHECK: "id": "two_chains/op8",
// CHECK-NEXT: "index": 8,
// CHECK-NEXT: "name": "linalg.reduce",
// CHECK-NEXT: "loc": "{{.*}}plan-report-schema.mlir:[[# @LINE + 39]]:3"
// CHECK: "id": "two_chains/op5",
// CHECK-NEXT: "index": 5,
// CHECK-NEXT: "name": "linalg.fill",
// CHECK-NEXT: "loc": "{{.*}}plan-report-schema.mlir:[[# @LINE + 32]]:3"
// CHECK: "id": "two_chains/op12",
// CHECK: "id": "two_chains/op11",
// CHECK-NEXT: "index": 11,
// CHECK-NEXT: "name": "linalg.reduce",
// CHECK: "id": "two_chains/op13",
// CHECK: ]

// Buffers: an id, the op that allocates it, offset and live steps (positions in the order).
// CHECK: "buffers": [
// CHECK: "id": "two_chains/buf0",
// CHECK-NEXT: "index": 0,
// CHECK-NEXT: "op": {
// CHECK-NEXT: "id": "two_chains/op2",
// CHECK-NEXT: "index": 2,
// CHECK-NEXT: "name": "memref.alloc",
// CHECK-NEXT: "loc": "{{.*}}plan-report-schema.mlir:[[# @LINE + 13]]:8"
// CHECK-NEXT: },
// CHECK-NEXT: "type": "memref<64xf32>",
// CHECK-NEXT: "size": 256,
// CHECK-NEXT: "offset": 0,
// CHECK-NEXT: "first_step": 2,
// CHECK-NEXT: "last_step": 4,
// CHECK-NEXT: "dead": false
// CHECK: "id": "two_chains/buf3",
// CHECK-NOT: "id": "two_chains/buf4"
func.func @two_chains(%out0: memref<f32>, %out1: memref<f32>) {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  %a = memref.alloc() : memref<64xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<64xf32>)
  %b = memref.alloc() : memref<64xf32>
  linalg.fill ins(%one : f32) outs(%b : memref<64xf32>)
  %s0 = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%s0 : memref<f32>)
  linalg.reduce ins(%a : memref<64xf32>) outs(%s0 : memref<f32>) dimensions = [0]
    (%in: f32, %init: f32) {
      %0 = arith.addf %in, %init : f32
      linalg.yield %0 : f32
    }
  %s1 = memref.alloc() : memref<f32>
  linalg.fill ins(%zero : f32) outs(%s1 : memref<f32>)
  linalg.reduce ins(%b : memref<64xf32>) outs(%s1 : memref<f32>) dimensions = [0]
    (%in: f32, %init: f32) {
      %0 = arith.addf %in, %init : f32
      linalg.yield %0 : f32
    }
  memref.copy %s0, %out0 : memref<f32> to memref<f32>
  memref.copy %s1, %out1 : memref<f32> to memref<f32>
  return
}
