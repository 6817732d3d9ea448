// RUN: modelopt-opt %s --update-in-place --split-input-file --verify-diagnostics
// RUN: %expect_exit 1 modelopt-opt %s --update-in-place --split-input-file 2>&1 | filecheck %s -DFILE=%s

// Each error points at the out-param (or the call), fails the pass with exit status 1 and
// prints no IR.
// CHECK: [[FILE]]:[[# @LINE + 4]]:5: error: argument 1 of type i32 is marked modelopt.updates; only ranked memref out-params can be
// CHECK-NOT: func.func
func.func @not_memref(%w: memref<4xf32>,
    // expected-error @below {{argument 1 of type i32 is marked modelopt.updates; only ranked memref out-params can be}}
    %n: i32 {modelopt.updates = 0 : i64}) {
  return
}

// -----

func.func @target_not_memref(%w: f32,
    // expected-error @below {{argument 1 updates argument 0 of type f32; only ranked memref arguments can be updated in place}}
    %new_w: memref<4xf32> {modelopt.updates = 0 : i64}) {
  return
}

// -----

func.func @out_of_range(%w: memref<4xf32>,
    // expected-error @below {{argument 1 updates argument 5, but the function has 2 arguments}}
    %new_w: memref<4xf32> {modelopt.updates = 5 : i64}) {
  return
}

// -----

func.func @negative(%w: memref<4xf32>,
    // expected-error @below {{argument 1 updates argument -1, but the function has 2 arguments}}
    %new_w: memref<4xf32> {modelopt.updates = -1 : i64}) {
  return
}

// -----

func.func @updates_itself(%w: memref<4xf32>,
    // expected-error @below {{argument 1 updates argument 1, which is itself an out-param marked modelopt.updates}}
    %new_w: memref<4xf32> {modelopt.updates = 1 : i64}) {
  return
}

// -----

func.func @chain(%w: memref<4xf32>,
    %new_w: memref<4xf32> {modelopt.updates = 0 : i64},
    // expected-error @below {{argument 2 updates argument 1, which is itself an out-param marked modelopt.updates}}
    %newer_w: memref<4xf32> {modelopt.updates = 1 : i64}) {
  return
}

// -----

func.func @wrong_shape(%w: memref<4x8xf32>,
    // expected-error @below {{tied output of the wrong shape: argument 1 has type memref<8x4xf32> but the argument 0 it updates has type memref<4x8xf32>}}
    %new_w: memref<8x4xf32> {modelopt.updates = 0 : i64}) {
  return
}

// -----

func.func @wrong_element_type(%w: memref<4xf32>,
    // expected-error @below {{tied output of the wrong shape: argument 1 has type memref<4xf16> but the argument 0 it updates has type memref<4xf32>}}
    %new_w: memref<4xf16> {modelopt.updates = 0 : i64}) {
  return
}

// -----

func.func @updated_twice(%w: memref<4xf32>,
    %a: memref<4xf32> {modelopt.updates = 0 : i64},
    // expected-error @below {{arguments 1 and 2 both update argument 0}}
    %b: memref<4xf32> {modelopt.updates = 0 : i64}) {
  return
}

// -----

func.func @not_an_index(%w: memref<4xf32>,
    // expected-error @below {{modelopt.updates on argument 1 must be an integer argument index, got "w"}}
    %new_w: memref<4xf32> {modelopt.updates = "w"}) {
  return
}

// -----

// Erasing the out-param would break the call.
func.func @step(%w: memref<4xf32>, %new_w: memref<4xf32> {modelopt.updates = 0 : i64}) {
  memref.copy %w, %new_w : memref<4xf32> to memref<4xf32>
  return
}

func.func @caller(%w: memref<4xf32>, %new_w: memref<4xf32>) {
  // CHECK: [[FILE]]:[[# @LINE + 3]]:3: error: '@step' has out-params marked modelopt.updates but is called in the module
  // CHECK-NOT: func.func
  // expected-error @below {{'@step' has out-params marked modelopt.updates but is called in the module; update-in-place would change its signature under the call}}
  func.call @step(%w, %new_w) : (memref<4xf32>, memref<4xf32>) -> ()
  return
}
