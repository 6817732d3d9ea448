// RUN: modelopt-opt %s --memory-plan='reorder=false' | filecheck %s --check-prefix=NOREORDER
// RUN: modelopt-opt %s --memory-plan='alignment=128' | filecheck %s --check-prefix=ALIGN128
// RUN: modelopt-opt %s --memory-plan='alignment=16 solver=greedy time-limit=5' | filecheck %s --check-prefix=ALIGN16
// RUN: modelopt-opt %s --pass-pipeline='builtin.module(memory-plan{reorder=0 alignment=16})' | filecheck %s --check-prefix=PIPELINE
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='bogus=1' 2>&1 | filecheck %s --check-prefix=BADNAME
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='alignment=3' 2>&1 | filecheck %s --check-prefix=BADALIGN
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='solver=magic' 2>&1 | filecheck %s --check-prefix=BADSOLVER
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='reorder=maybe' 2>&1 | filecheck %s --check-prefix=BADBOOL
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='solver=greedy mode=joint' 2>&1 | filecheck %s --check-prefix=BADJOINT
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='reorder=false mode=joint' 2>&1 | filecheck %s --check-prefix=BADJOINT

// Two chains of a 64-byte buffer reduced to 4 bytes. Program order keeps %a, %b and %s0 live
// together: every size pads to the alignment, 3 x 64 = 192 and 3 x 128 = 384. With 128-byte
// alignment the best order copies %s0 out before %b's chain starts: 2 x 128 = 256. With
// 16-byte alignment the same order needs 64 + 16 = 80 (%s1 takes %s0's place) instead of
// 64 + 64 + 16 = 144. The arena alloc is never less than 64-byte aligned.
// NOREORDER: modelopt.arena_size = 192 : i64, modelopt.lower_bound = 192 : i64, modelopt.program_order_peak = 192 : i64
// ALIGN128: modelopt.arena_size = 256 : i64, modelopt.lower_bound = 256 : i64, modelopt.program_order_peak = 384 : i64
// ALIGN128: memref.alloc() {alignment = 128 : i64} : memref<256xi8>
// ALIGN16: modelopt.arena_size = 80 : i64, modelopt.lower_bound = 80 : i64, modelopt.program_order_peak = 144 : i64
// ALIGN16: memref.alloc() {alignment = 64 : i64} : memref<80xi8>
// PIPELINE: modelopt.arena_size = 144 : i64, modelopt.lower_bound = 144 : i64, modelopt.program_order_peak = 144 : i64
// BADNAME: modelopt-opt: pass 'memory-plan' has no option 'bogus' (options: alignment, budget, max-recompute, mode, outputs, recompute, reorder, solver, time-limit)
// BADALIGN: modelopt-opt: pass 'memory-plan': option 'alignment' must be a power of two, got 3
// BADSOLVER: modelopt-opt: pass 'memory-plan': option 'solver' must be one of auto, greedy, ilp, got 'magic'
// BADBOOL: modelopt-opt: pass 'memory-plan': invalid value 'maybe' for option 'reorder'
// BADJOINT: modelopt-opt: pass 'memory-plan': option 'mode=joint' needs solver=auto or ilp and reorder=true
func.func @two_chains(%out0: memref<f32>, %out1: memref<f32>) {
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<16xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<16xf32>)
  %b = memref.alloc() : memref<16xf32>
  linalg.fill ins(%one : f32) outs(%b : memref<16xf32>)
  %s0 = memref.alloc() : memref<f32>
  linalg.fill ins(%one : f32) outs(%s0 : memref<f32>)
  linalg.reduce ins(%a : memref<16xf32>) outs(%s0 : memref<f32>) dimensions = [0]
    (%in: f32, %init: f32) {
      %0 = arith.addf %in, %init : f32
      linalg.yield %0 : f32
    }
  %s1 = memref.alloc() : memref<f32>
  linalg.fill ins(%one : f32) outs(%s1 : memref<f32>)
  linalg.reduce ins(%b : memref<16xf32>) outs(%s1 : memref<f32>) dimensions = [0]
    (%in: f32, %init: f32) {
      %0 = arith.addf %in, %init : f32
      linalg.yield %0 : f32
    }
  memref.copy %s0, %out0 : memref<f32> to memref<f32>
  memref.copy %s1, %out1 : memref<f32> to memref<f32>
  return
}

// RUN: modelopt-opt %s --memory-plan='solver=ilp mode=joint alignment=16' | filecheck %s --check-prefix=JOINT
// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='mode=three-phase' 2>&1 | filecheck %s --check-prefix=BADMODE
// The joint order+address search finds the optimum the greedy order misses: %s0 is copied
// out before %b's chain starts, so 64 + 16 = 80.
// JOINT: modelopt.arena_size = 80 : i64, modelopt.lower_bound = 80 : i64, modelopt.program_order_peak = 144 : i64
// BADMODE: modelopt-opt: pass 'memory-plan': option 'mode' must be one of two-phase, joint, got 'three-phase'

// RUN: %expect_exit 2 modelopt-opt %s --memory-plan='outputs=heap' 2>&1 | filecheck %s --check-prefix=BADOUTPUTS
// BADOUTPUTS: modelopt-opt: pass 'memory-plan': option 'outputs' must be one of args, arena, got 'heap'
