// RUN: modelopt-opt %s --memory-plan --split-input-file --verify-diagnostics | filecheck %s
// RUN: modelopt-opt %s --memory-plan --split-input-file 2>/dev/null | modelopt-opt - --split-input-file --pass-pipeline='builtin.module(convert-linalg-to-loops, expand-strided-metadata, finalize-memref-to-llvm, convert-func-to-llvm, reconcile-unrealized-casts)' | filecheck %s --check-prefix=LLVM

// An alloc that nothing uses takes no arena space: it is erased, with a remark. The arena
// holds only the live buffer.
// CHECK-LABEL: func.func @dead_alone
// CHECK-SAME: modelopt.arena_size = 64 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64xi8>
// CHECK-NOT: memref.alloc
// CHECK: memref.view %[[ARENA]][%{{.*}}][] : memref<64xi8> to memref<4xf32>
// CHECK-NOT: memref.view
// CHECK: return
// LLVM-LABEL: llvm.func @dead_alone
func.func @dead_alone(%arg: memref<4xf32>, %out: memref<4xf32>) {
  // expected-remark @below {{buffer is never used: it is erased and takes no arena space}}
  %dead = memref.alloc() : memref<1024xf32>
  %s = memref.alloc() : memref<4xf32>
  memref.copy %arg, %s : memref<4xf32> to memref<4xf32>
  memref.copy %s, %out : memref<4xf32> to memref<4xf32>
  return
}

// -----

// A dead alloc with its dealloc: both are erased. With no live buffer there is no arena.
// CHECK-LABEL: func.func @dead_with_dealloc
// CHECK-SAME: modelopt.arena_size = 0 : i64
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
// CHECK: memref.copy %arg0, %arg1
// CHECK-NEXT: return
// LLVM-LABEL: llvm.func @dead_with_dealloc
func.func @dead_with_dealloc(%arg: memref<4xf32>, %out: memref<4xf32>) {
  // expected-remark @below {{buffer is never used: it is erased and takes no arena space}}
  %dead = memref.alloc() : memref<16xf32>
  memref.copy %arg, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %dead : memref<16xf32>
  return
}

// -----

// Dead stack and heap buffers beside live ones that are freed: the arena is still freed once.
// CHECK-LABEL: func.func @dead_among_live
// CHECK-SAME: modelopt.arena_size = 128 : i64
// CHECK: %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK-NOT: memref.alloc
// CHECK: memref.dealloc %[[ARENA]] : memref<128xi8>
// CHECK-NEXT: return
// LLVM-LABEL: llvm.func @dead_among_live
func.func @dead_among_live(%arg: memref<4xf32>, %out: memref<4xf32>) {
  // expected-remark @below {{buffer is never used: it is erased and takes no arena space}}
  %d1 = memref.alloca() : memref<8xi64>
  %a = memref.alloc() : memref<4xf32>
  // expected-remark @below {{buffer is never used: it is erased and takes no arena space}}
  %d2 = memref.alloc() : memref<0xf16>
  %b = memref.alloc() : memref<4xf32>
  memref.copy %arg, %a : memref<4xf32> to memref<4xf32>
  linalg.add ins(%a, %a : memref<4xf32>, memref<4xf32>) outs(%b : memref<4xf32>)
  memref.dealloc %d2 : memref<0xf16>
  memref.dealloc %a : memref<4xf32>
  memref.copy %b, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}
