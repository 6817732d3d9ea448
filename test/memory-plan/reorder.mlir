// RUN: modelopt-opt %s --memory-plan | filecheck %s

// Two independent chains, each a 256-byte buffer reduced to a scalar (64 bytes padded) and
// copied out. Program order keeps both big buffers and a scalar live at once (576 bytes); the
// best order finishes one chain, scalar copied out, before starting the other: 256 + 64.
// CHECK-LABEL: func.func @two_chains
// CHECK-SAME: modelopt.arena_size = 320 : i64, modelopt.lower_bound = 320 : i64, modelopt.program_order_peak = 576 : i64
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[A:.*]] : memref<64xf32>)
// CHECK: linalg.reduce ins(%[[A]] : memref<64xf32>)
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[B:.*]] : memref<64xf32>)
// CHECK: memref.copy
// CHECK: linalg.reduce ins(%[[B]] : memref<64xf32>)
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

// The same shape, but the op that would free %a early overwrites %arg0, which the op making
// %b still has to read (write-after-read): the reorder must not cross it, so both 256-byte
// buffers stay live together.
// CHECK-LABEL: func.func @war_blocks_reorder
// CHECK-SAME: modelopt.arena_size = 512 : i64, modelopt.lower_bound = 512 : i64, modelopt.program_order_peak = 512 : i64
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[A:.*]] : memref<64xf32>)
// CHECK: memref.copy %arg0, %[[B:.*]] : memref<64xf32> to memref<64xf32>
// CHECK: memref.copy %[[A]], %arg0 : memref<64xf32> to memref<64xf32>
// CHECK: memref.copy %[[B]], %arg1 : memref<64xf32> to memref<64xf32>
func.func @war_blocks_reorder(%arg0: memref<64xf32>, %out: memref<64xf32>) {
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<64xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<64xf32>)
  %b = memref.alloc() : memref<64xf32>
  memref.copy %arg0, %b : memref<64xf32> to memref<64xf32>
  memref.copy %a, %arg0 : memref<64xf32> to memref<64xf32>
  memref.copy %b, %out : memref<64xf32> to memref<64xf32>
  return
}
