"""Random training-step-shaped programs in memref IR, for testing recompute.

The structure mirrors what recompute meets in captured steps, at toy sizes (rows x width
matrices of 2-8 elements a side):

- forward: ``depth`` layers, each ``pre = h @ w_i`` (fill + matmul), then a random chain of
  1-3 elementwise ops (exp, tanh, square, scale, max with 0, add a constant), sometimes a
  residual add of the layer's input; every intermediate is its own alloc;
- a loss-like reduction of the last activation (fill + reduction generic) into ``loss``;
- backward: from a gradient that depends on the loss, for each layer in reverse, the weight
  gradient ``h^T @ g`` (a reduction generic reading the saved input), a gradient through the
  elementwise chain that reads saved intermediates, and ``g @ w_i^T``;
- in-place SGD updates of the weights (``w_i -= 0.01 * grad_w_i``), each right after its
  gradient (so a clone that reads ``w_i`` must stay before the update), all arguments
  ``modelopt.noalias``.

The same seed gives the same program.
"""

from __future__ import annotations

import random

_UNARY = {
    "exp": "%r = math.exp %a : f32",
    "tanh": "%r = math.tanh %a : f32",
    "square": "%r = arith.mulf %a, %a : f32",
    "scale": "%r = arith.mulf %a, %c_half : f32",
    "relu": "%r = arith.maximumf %a, %c_zero : f32",
    "shift": "%r = arith.addf %a, %c_one : f32",
}


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"%{stem}{self.count}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)


def generate_training_program(seed: int) -> tuple[str, str]:
    """(MLIR text, entry function name) of one random training-step-shaped program."""
    rng = random.Random(seed)
    rows = rng.choice([2, 4, 8])
    width = rng.choice([2, 4, 8])
    depth = rng.randint(2, 4)
    mat = f"memref<{rows}x{width}xf32>"
    weight = f"memref<{width}x{width}xf32>"
    w = _Writer()
    id2 = "affine_map<(d0, d1) -> (d0, d1)>"
    ew = f'{{indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}}'
    ew2 = f'{{indexing_maps = [{id2}, {id2}, {id2}], iterator_types = ["parallel", "parallel"]}}'

    def alloc(shape: str, stem: str) -> str:
        name = w.name(stem)
        w.emit(f"{name} = memref.alloc() : {shape}")
        return name

    def unary(source: str, kind: str, shape: str = mat) -> str:
        result = alloc(shape, kind)
        body = _UNARY[kind].replace("%r", "%v").replace("%a", "%in")
        w.emit(f"linalg.generic {ew} ins({source} : {shape}) outs({result} : {shape}) {{")
        w.emit(f"^bb0(%in: f32, %o: f32):\n    {body}\n    linalg.yield %v : f32\n  }}")
        return result

    def binary(left: str, right: str, op: str, shape: str = mat) -> str:
        result = alloc(shape, op.split(".")[1])
        w.emit(
            f"linalg.generic {ew2} ins({left}, {right} : {shape}, {shape}) "
            f"outs({result} : {shape}) {{"
        )
        w.emit(
            f"^bb0(%in: f32, %in2: f32, %o: f32):\n    %v = {op} %in, %in2 : f32\n"
            f"    linalg.yield %v : f32\n  }}"
        )
        return result

    def matmul(left: str, right: str, left_shape: str, right_shape: str, out_shape: str) -> str:
        result = alloc(out_shape, "mm")
        w.emit(f"linalg.fill ins(%c_zero : f32) outs({result} : {out_shape})")
        w.emit(
            f"linalg.matmul ins({left}, {right} : {left_shape}, {right_shape}) "
            f"outs({result} : {out_shape})"
        )
        return result

    def contract(
        left: str, right: str, shapes: tuple[str, str, str], maps: tuple[str, str, str]
    ) -> str:
        """A reduction generic: out[i, j] += left[.] * right[.] over d2."""
        result = alloc(shapes[2], "ct")
        w.emit(f"linalg.fill ins(%c_zero : f32) outs({result} : {shapes[2]})")
        w.emit(
            f"linalg.generic {{indexing_maps = [{maps[0]}, {maps[1]}, {maps[2]}], "
            f'iterator_types = ["parallel", "parallel", "reduction"]}} '
            f"ins({left}, {right} : {shapes[0]}, {shapes[1]}) outs({result} : {shapes[2]}) {{"
        )
        w.emit(
            "^bb0(%in: f32, %in2: f32, %o: f32):\n    %p = arith.mulf %in, %in2 : f32\n"
            "    %s = arith.addf %o, %p : f32\n    linalg.yield %s : f32\n  }"
        )
        return result

    w.emit("%c_zero = arith.constant 0.0 : f32")
    w.emit("%c_one = arith.constant 1.0 : f32")
    w.emit("%c_half = arith.constant 0.5 : f32")
    w.emit("%c_lr = arith.constant 0.01 : f32")
    # Forward.
    h = "%x"
    saved: list[tuple[str, str, list[tuple[str, str]], bool]] = []  # (input, pre, chain, res)
    for layer in range(depth):
        pre = matmul(h, f"%w{layer}", mat, weight, mat)
        chain: list[tuple[str, str]] = []
        value = pre
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(sorted(_UNARY))
            value = unary(value, kind)
            chain.append((kind, value))
        residual = rng.random() < 0.4
        if residual:
            value = binary(value, h, "arith.addf")
        saved.append((h, pre, chain, residual))
        h = value
    loss_acc = alloc("memref<f32>", "loss")
    w.emit(f"linalg.fill ins(%c_zero : f32) outs({loss_acc} : memref<f32>)")
    w.emit(
        f"linalg.generic {{indexing_maps = [{id2}, affine_map<(d0, d1) -> ()>], "
        f'iterator_types = ["reduction", "reduction"]}} ins({h} : {mat}) '
        f"outs({loss_acc} : memref<f32>) {{"
    )
    w.emit(
        "^bb0(%in: f32, %o: f32):\n    %s = arith.addf %o, %in : f32\n    linalg.yield %s : f32\n  }"
    )
    w.emit(f"memref.copy {loss_acc}, %loss : memref<f32> to memref<f32>")
    # Backward: g starts as tanh(h) scaled (depends on the forward's end).
    g = unary(h, "tanh")
    transposed_left = "affine_map<(d0, d1, d2) -> (d2, d0)>"
    plain_right = "affine_map<(d0, d1, d2) -> (d2, d1)>"
    out_map = "affine_map<(d0, d1, d2) -> (d0, d1)>"
    left_map = "affine_map<(d0, d1, d2) -> (d0, d2)>"
    right_transposed = "affine_map<(d0, d1, d2) -> (d1, d2)>"
    for layer in reversed(range(depth)):
        h_in, pre, chain, residual = saved[layer]
        g_out = g
        # Through the elementwise chain: multiply by a function of each saved intermediate.
        for kind, value in reversed(chain):
            factor = unary(value, rng.choice(["square", "shift", "scale"]))
            g = binary(g, factor, "arith.mulf")
            del kind
        grad_w = contract(h_in, g, (mat, mat, weight), (transposed_left, plain_right, out_map))
        # In-place SGD update of the weight, right after its gradient.
        scaled = unary(grad_w, "scale", weight)
        w.emit(
            f"linalg.generic {ew2} ins(%w{layer}, {scaled} : {weight}, {weight}) "
            f"outs(%w{layer} : {weight}) {{"
        )
        w.emit(
            "^bb0(%in: f32, %in2: f32, %o: f32):\n    %d = arith.mulf %in2, %c_lr : f32\n"
            "    %v = arith.subf %in, %d : f32\n    linalg.yield %v : f32\n  }"
        )
        del pre
        if layer:
            # g @ w^T reads the updated weight: the forward's matmul must not be recomputed
            # past the update.
            g_next = contract(
                g, f"%w{layer}", (mat, weight, mat), (left_map, right_transposed, out_map)
            )
            if residual:
                g_next = binary(g_next, g_out, "arith.addf")
            g = g_next
    w.emit(f"memref.copy {g}, %gx : {mat} to {mat}")
    args = [f"%x: {mat} {{modelopt.noalias}}"]
    args += [f"%w{i}: {weight} {{modelopt.noalias}}" for i in range(depth)]
    args += ["%loss: memref<f32> {modelopt.noalias}", f"%gx: {mat} {{modelopt.noalias}}"]
    body = "\n".join(w.lines)
    text = f"func.func @step({', '.join(args)}) {{\n{body}\n  return\n}}\n"
    return text, "step"
