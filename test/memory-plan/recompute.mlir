// RUN: modelopt-opt %s --memory-plan='recompute=auto' 2>%t.err | filecheck %s
// RUN: filecheck %s --check-prefix=REMARK < %t.err
// RUN: modelopt-opt %s --memory-plan | filecheck %s --check-prefix=OFF

// @chain: b = exp(x)^2 is read by p (4 KiB) early and by the last op late, so without recompute
// b, p and q (4 KiB) are live together: 9216 bytes, in any order. recompute=auto recomputes
// the elementwise chain a = exp(x), b = a * a from x (an argument nothing writes) just before
// the last op, so b dies after p is made: 8192 bytes. The clones carry modelopt.recompute and
// the last op reads the copy.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: modelopt.arena_size = 8192
// CHECK: math.exp
// CHECK: arith.mulf %in, %in
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%arg0 : memref<256xf32>) outs(%[[A2:.*]] : memref<256xf32>) attrs = {modelopt.recompute}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: math.exp
// CHECK: linalg.generic {{.*}} ins(%[[A2]] : memref<256xf32>) outs(%[[B2:.*]] : memref<256xf32>) attrs = {modelopt.recompute}
// CHECK: linalg.generic {{.*}} ins(%[[B2]], %{{.*}} : memref<256xf32>, memref<256xf32>) outs(%arg1
// REMARK: remark: recompute: 2 buffers recomputed by 2 cloned ops, 512 extra FLOPs (13.3% of the step's 3840); arena 9216 -> 8192 bytes
// OFF-LABEL: func.func @chain
// OFF-SAME: modelopt.arena_size = 9216
// OFF-NOT: modelopt.recompute

// @written: the same, but x is doubled in place (an optimizer-like update) before the last op,
// which reads it too. A clone of a = exp(x) there would read the new x: nothing may be
// recomputed, and the arena stays at 9216 bytes.
// CHECK-LABEL: func.func @written
// CHECK-SAME: modelopt.arena_size = 9216
// CHECK-NOT: modelopt.recompute
// CHECK: return

#id = affine_map<(d0) -> (d0)>
#row = affine_map<(d0, d1) -> (d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @chain(%x: memref<256xf32> {modelopt.noalias}, %out: memref<256xf32> {modelopt.noalias}) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<256xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : memref<256xf32>) outs(%a : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  }
  %b = memref.alloc() : memref<256xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<256xf32>) outs(%b : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  }
  %p = memref.alloc() : memref<4x256xf32>
  linalg.generic {indexing_maps = [#row, #id2], iterator_types = ["parallel", "parallel"]} ins(%b : memref<256xf32>) outs(%p : memref<4x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %one : f32
    linalg.yield %m : f32
  }
  %q = memref.alloc() : memref<4x256xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%p : memref<4x256xf32>) outs(%q : memref<4x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  }
  %s = memref.alloc() : memref<256xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<256xf32>)
  linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["reduction", "parallel"]} ins(%q : memref<4x256xf32>) outs(%s : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %o : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%b, %s : memref<256xf32>, memref<256xf32>) outs(%out : memref<256xf32>) {
  ^bb0(%in: f32, %in2: f32, %o: f32):
    %m = arith.mulf %in, %in2 : f32
    linalg.yield %m : f32
  }
  memref.dealloc %a : memref<256xf32>
  memref.dealloc %b : memref<256xf32>
  memref.dealloc %p : memref<4x256xf32>
  memref.dealloc %q : memref<4x256xf32>
  memref.dealloc %s : memref<256xf32>
  return
}

func.func @written(%x: memref<256xf32> {modelopt.noalias}, %out: memref<256xf32> {modelopt.noalias}) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<256xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : memref<256xf32>) outs(%a : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %e = math.exp %in : f32
    linalg.yield %e : f32
  }
  %b = memref.alloc() : memref<256xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : memref<256xf32>) outs(%b : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  }
  %p = memref.alloc() : memref<4x256xf32>
  linalg.generic {indexing_maps = [#row, #id2], iterator_types = ["parallel", "parallel"]} ins(%b : memref<256xf32>) outs(%p : memref<4x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %one : f32
    linalg.yield %m : f32
  }
  %q = memref.alloc() : memref<4x256xf32>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%p : memref<4x256xf32>) outs(%q : memref<4x256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  }
  %s = memref.alloc() : memref<256xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<256xf32>)
  linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["reduction", "parallel"]} ins(%q : memref<4x256xf32>) outs(%s : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %o : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : memref<256xf32>) outs(%x : memref<256xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.addf %in, %in : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel"]} ins(%b, %s, %x : memref<256xf32>, memref<256xf32>, memref<256xf32>) outs(%out : memref<256xf32>) {
  ^bb0(%in: f32, %in2: f32, %in3: f32, %o: f32):
    %m = arith.mulf %in, %in2 : f32
    %n = arith.mulf %m, %in3 : f32
    linalg.yield %n : f32
  }
  memref.dealloc %a : memref<256xf32>
  memref.dealloc %b : memref<256xf32>
  memref.dealloc %p : memref<4x256xf32>
  memref.dealloc %q : memref<4x256xf32>
  memref.dealloc %s : memref<256xf32>
  return
}
