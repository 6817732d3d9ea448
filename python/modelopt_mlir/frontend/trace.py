"""Tracing a step function into one functional FX graph: ``make_fx`` over
``torch.func.functionalize`` with fake tensors, under :func:`capture_environment`. The graph must
have static shapes and no random ops; tracing errors become ``CaptureError`` subclasses that
point at the user's line."""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from unittest import mock

import torch
from torch import nn
from torch._functorch import eager_transforms
from torch.fx.experimental.proxy_tensor import make_fx

from modelopt_mlir.frontend.decompositions import capture_decompositions
from modelopt_mlir.frontend.errors import (
    CaptureError,
    CaptureUsageError,
    DataDependentControlFlowError,
    DynamicShapeError,
)

# Ops whose result is random: a captured step must be a deterministic function of its arguments.
_RANDOM_OPS = (
    "bernoulli",
    "rand",
    "randn",
    "randint",
    "native_dropout",
    "normal",
    "uniform",
    "multinomial",
    "randperm",
)


def switch_off_dropout(model: nn.Module) -> list[tuple[nn.Module, float]]:
    """Dropout modules to eval mode, and the attention dropout of ``nn.MultiheadAttention``
    (a probability it applies in training mode; ``nn.TransformerEncoderLayer`` has 0.1 by
    default) to 0. Returns the attention modules with their probabilities, to restore."""
    attention = []
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
        elif isinstance(module, nn.MultiheadAttention) and module.dropout:
            attention.append((module, module.dropout))
            module.dropout = 0.0
    return attention


@contextlib.contextmanager
def model_mode(model: nn.Module, *, train: bool) -> Iterator[None]:
    """Training (dropout off) or eval mode for the duration of the trace; restored after."""
    modes = {m: m.training for m in model.modules()}
    model.train(train)
    attention = switch_off_dropout(model)
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode
        for module, p in attention:
            module.dropout = p


# While a training step is traced: for each gradient computed, whether each input got one.
_GRADIENT_RECORD: list[list[tuple[bool, ...]]] = []


@contextlib.contextmanager
def recording_gradients() -> Iterator[list[tuple[bool, ...]]]:
    """Record, for each gradient computed in the block, which inputs got one."""
    record: list[tuple[bool, ...]] = []
    _GRADIENT_RECORD.append(record)
    try:
        yield record
    finally:
        _GRADIENT_RECORD.remove(record)


def _first_order_autograd_grad(
    outputs: Sequence[torch.Tensor],
    inputs: Sequence[torch.Tensor],
    grad_outputs: Sequence[torch.Tensor] | None = None,
    retain_graph: bool = False,
    create_graph: bool = True,
) -> tuple[torch.Tensor, ...]:
    """functorch's ``_autograd_grad`` (torch 2.13) without ``create_graph``: one level of
    ``torch.func.grad``, never differentiated again. It also records which inputs got no
    gradient (functorch gives them zeros; torch.optim would skip them)."""
    del create_graph
    if grad_outputs is None:
        pairs = [(out, None) for out in outputs if out.requires_grad]
    else:
        pairs = [
            (out, go) for out, go in zip(outputs, grad_outputs, strict=True) if out.requires_grad
        ]
    if not pairs:
        grads: Sequence[torch.Tensor | None] = [None] * len(inputs)
    else:
        with torch._dynamo.compiled_autograd._disable():
            grads = torch.autograd.grad(
                [out for out, _ in pairs],
                inputs,
                None if grad_outputs is None else [go for _, go in pairs],
                retain_graph=retain_graph,
                create_graph=False,
                allow_unused=True,
            )
    if _GRADIENT_RECORD:
        _GRADIENT_RECORD[-1].append(tuple(g is not None for g in grads))
    return tuple(
        torch.zeros_like(inp) if g is None else g for g, inp in zip(grads, inputs, strict=True)
    )


@contextlib.contextmanager
def capture_environment() -> Iterator[None]:
    """What every capture runs under.

    - The Python dispatcher, so that ``native_batch_norm`` in training mode goes through
      ``_native_batch_norm_legit``, whose running-statistics update functionalization can see.
    - ``torch.func.grad`` runs its backward pass without ``create_graph``. We never
      differentiate twice, and with a graph to create autograd picks the double-differentiable
      backward formulas (``infinitely_differentiable_native_group_norm_backward``,
      ``..._layer_norm_backward``, ...): C++ composites below which no decomposition of ours
      applies, holding several full-size temporaries at once. First-order backward ops
      (``native_group_norm_backward``, ...) reach the decomposition table instead.
    - transformers' packed-sequence check patched out: it branches on tensor data unless it sees
      dynamo or FakeTensors, and under functionalize/grad it sees neither. Each row is one
      sequence.
    - Attention through the math backend of ``scaled_dot_product_attention`` (matmuls and a
      softmax, differentiated op by op): the fused CPU flash kernel's backward
      (``_scaled_dot_product_flash_attention_for_cpu_backward``) has no torch-mlir lowering.
      ``nn.TransformerEncoderLayer``, T5 and every model calling ``F.scaled_dot_product_attention``
      need this.
    - oneDNN (mkldnn) off: RNNs then take their composite path (matmuls and pointwise cells)
      instead of ``mkldnn_rnn_layer``, which torch-mlir cannot lower.
    - Nearest upsampling that doubles both sides as a broadcast (:func:`_nearest_doubling`).
    Eager PyTorch, measured or used as the reference, runs with the defaults.
    """
    from torch._dispatch.python import enable_python_dispatcher
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with contextlib.ExitStack() as stack:
        stack.enter_context(enable_python_dispatcher())
        stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        stack.enter_context(_onednn_off())
        stack.enter_context(
            mock.patch.object(eager_transforms, "_autograd_grad", _first_order_autograd_grad)
        )
        stack.enter_context(packed_sequence_check_off())
        stack.enter_context(_nearest_doubling())
        yield


@contextlib.contextmanager
def _nearest_doubling() -> Iterator[None]:
    """``upsample_nearest2d.vec`` (``nn.Upsample(scale_factor=2)``, ``F.interpolate``) doubling
    both sides captured as each value repeated in a 2 x 2 block: a reshape, an expand and a
    reshape, whose gradient is a sum over each block. torch's own kernel for it (Python, at the
    Autograd key, above any decomposition table) builds int64 index tensors and an indexed
    gather, whose gradient is an accumulating scatter: 2.8x eager's footprint on a small convnet.
    PyTorch's CPU kernel takes input index ``i >> 1`` when an output side is twice the input
    side, whatever the scales: the same values. Other sizes go to torch's kernel."""
    from torch._C import DispatchKey
    from torch._decomp.decompositions import upsample_compute_output_size

    op = torch.ops.aten.upsample_nearest2d.vec
    keys = (DispatchKey.Autograd, DispatchKey.CompositeImplicitAutograd)
    originals = {key: op.py_kernels.get(key) for key in keys}
    if any(kernel is None for kernel in originals.values()):
        yield
        return

    def kernel_for(original: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(input: torch.Tensor, output_size: Any, scale_factors: Any) -> Any:
            size = upsample_compute_output_size(input.size(), output_size, scale_factors)
            if input.dim() == 4 and list(size) == [2 * input.shape[2], 2 * input.shape[3]]:
                n, c, h, w = input.shape
                blocks = input.reshape(n, c, h, 1, w, 1).expand(n, c, h, 2, w, 2)
                return blocks.reshape(n, c, 2 * h, 2 * w)
            return original(input, output_size, scale_factors)

        return kernel

    try:
        for key, original in originals.items():
            op.py_kernels[key] = kernel_for(original)
        op._dispatch_cache.clear()
        yield
    finally:
        for key, original in originals.items():
            op.py_kernels[key] = original
        op._dispatch_cache.clear()


@contextlib.contextmanager
def packed_sequence_check_off() -> Iterator[None]:
    """transformers' packed-sequence check patched out (each row is one sequence): it branches
    on tensor data unless it sees dynamo or FakeTensors. So do its shortcuts that skip an
    attention mask of all ones (``padding_mask.all()``, with an ``attention_mask`` input): its
    ``is_tracing`` says yes, and the mask is always applied, which computes the same values."""
    try:
        from transformers import masking_utils
    except ImportError:
        masking_utils = None
    if masking_utils is None or not hasattr(masking_utils, "find_packed_sequence_indices"):
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(masking_utils, "find_packed_sequence_indices", lambda *_a, **_k: None)
        )
        if hasattr(masking_utils, "is_tracing"):
            stack.enter_context(
                mock.patch.object(masking_utils, "is_tracing", lambda *_a, **_k: True)
            )
        yield


@contextlib.contextmanager
def _onednn_off() -> Iterator[None]:
    """oneDNN off for the block (``torch.backends.mkldnn.flags`` would also set TF32, which
    warns on builds without Intel GPU support)."""
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = was


def _make_fx(
    fn: Callable[..., Any],
    example_args: Sequence[torch.Tensor],
    *,
    record_stack_traces: bool = False,
) -> torch.fx.GraphModule:
    with capture_environment():
        return make_fx(
            torch.func.functionalize(fn, remove="mutations"),
            decomposition_table=capture_decompositions(),
            tracing_mode="fake",
            record_stack_traces=record_stack_traces,
        )(*_fake_cpu_args(example_args))


def _fake_cpu_args(example_args: Sequence[torch.Tensor]) -> Sequence[torch.Tensor]:
    """With a meta tensor among ``example_args`` (a model built on the meta device: shapes
    without values), every argument as a fake CPU tensor of one fake mode, which make_fx then
    traces in. Traced from meta tensors, the ops that make tensors (``arange``, ``full``, ...)
    would carry ``device=meta``, which torch-mlir cannot lower; fake tensors hold no memory
    either. Real arguments are returned as they are (make_fx fakes them itself)."""
    if not any(isinstance(a, torch.Tensor) and a.is_meta for a in example_args):
        return example_args
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    mode = FakeTensorMode(allow_fallback_kernels=True, shape_env=ShapeEnv(), static_shapes=True)
    faked: list[torch.Tensor] = []
    for arg in example_args:
        if not isinstance(arg, torch.Tensor):
            faked.append(arg)
        elif arg.is_meta:
            with mode:
                faked.append(
                    torch.empty_strided(arg.shape, arg.stride(), dtype=arg.dtype, device="cpu")
                )
        else:
            faked.append(mode.from_tensor(arg, static_shapes=True))
    return faked


def trace_functional(
    fn: Callable[..., tuple[torch.Tensor, ...]], example_args: Sequence[torch.Tensor]
) -> torch.fx.GraphModule:
    """``fn`` functionalized and traced with fake tensors into one FX graph with static shapes and
    no random op; tracing errors become CaptureErrors that name the user's line."""
    try:
        graph = _make_fx(fn, example_args)
    except CaptureError:
        raise
    except Exception as exc:
        translated = _translate_trace_error(exc)
        if translated is None:
            raise
        raise translated from None
    graph.graph.eliminate_dead_code()
    _check_static(graph, fn, example_args)
    _check_deterministic(graph, fn, example_args)
    _check_supported(graph, fn, example_args)
    wrap_negative_indices(graph)
    graph.recompile()
    return graph


# Advanced indexing: (op, position of the indexed tensor, position of the list of index tensors).
_INDEX_OPS = {
    torch.ops.aten.index.Tensor: (0, 1),
    torch.ops.aten._unsafe_index.Tensor: (0, 1),
    torch.ops.aten.index_put.default: (0, 1),
    torch.ops.aten._unsafe_index_put.default: (0, 1),
}
# Ops whose result is non-negative when their first argument is.
_SIGN_KEEPING = {
    torch.ops.aten.lift_fresh_copy.default,
    torch.ops.aten.clone.default,
    torch.ops.aten.view.default,
    torch.ops.aten._unsafe_view.default,
    torch.ops.aten.reshape.default,
    torch.ops.aten.expand.default,
    torch.ops.aten.unsqueeze.default,
    torch.ops.aten.squeeze.dim,
    torch.ops.aten.permute.default,
    torch.ops.aten.slice.Tensor,
    torch.ops.aten.select.int,
    torch.ops.aten._to_copy.default,
    torch.ops.prims.convert_element_type.default,
    torch.ops.aten.floor.default,
    torch.ops.aten.trunc.default,
}
# Ops whose result is non-negative when all their operands are.
_NONNEGATIVE_OF_OPERANDS = {
    torch.ops.aten.add.Tensor,
    torch.ops.aten.add.Scalar,
    torch.ops.aten.mul.Tensor,
    torch.ops.aten.mul.Scalar,
    torch.ops.aten.div.Tensor,
    torch.ops.aten.floor_divide.default,
    torch.ops.aten.minimum.default,
    torch.ops.aten.maximum.default,
}


def _nonnegative(graph: torch.fx.GraphModule, node: Any, depth: int = 0) -> bool:
    """Whether ``node`` (a tensor node or a number) provably holds no negative value."""
    if isinstance(node, bool) or not isinstance(node, (int, float, torch.fx.Node)):
        return False
    if not isinstance(node, torch.fx.Node):
        return node >= 0
    if depth > 32:
        return False
    if node.op == "get_attr":
        value = getattr(graph, str(node.target), None)
        return isinstance(value, torch.Tensor) and (value.numel() == 0 or bool(value.min() >= 0))
    if node.op != "call_function":
        return False
    target, args = node.target, node.args
    if target in (torch.ops.aten.clamp.default, torch.ops.aten.clamp_min.default):
        low = args[1] if len(args) > 1 else node.kwargs.get("min")
        return isinstance(low, (int, float)) and low >= 0
    if target in (torch.ops.aten.arange.default, torch.ops.aten.arange.start_step):
        return all(isinstance(a, (int, float)) and a >= 0 for a in args)
    if target in _SIGN_KEEPING:
        return _nonnegative(graph, args[0], depth + 1)
    if target in _NONNEGATIVE_OF_OPERANDS:
        return all(_nonnegative(graph, a, depth + 1) for a in args[:2])
    return False


def wrap_negative_indices(graph: torch.fx.GraphModule) -> int:
    """Advanced indexing with negative index tensors (``y[:, [-1]]``, or an index batch
    argument) counts from the end in PyTorch; torch-mlir's lowering of ``index`` and of
    ``index_put`` (the gradient of ``index``) uses them as offsets, out of bounds. Each integer
    index tensor not provably non-negative gets ``where(i < 0, i + size, i)`` first. Returns how
    many were wrapped."""
    aten = torch.ops.aten
    wrapped = 0
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target not in _INDEX_OPS:
            continue
        source_pos, list_pos = _INDEX_OPS[node.target]
        source = node.args[source_pos].meta.get("val")
        indices = list(node.args[list_pos])
        changed = False
        for dim, index in enumerate(indices):
            value = index.meta.get("val") if isinstance(index, torch.fx.Node) else None
            if value is None or value.dtype not in (torch.int64, torch.int32):
                continue
            if source is None or _nonnegative(graph, index):
                continue
            size = int(source.shape[dim])
            with graph.graph.inserting_before(node):
                negative = graph.graph.call_function(aten.lt.Scalar, (index, 0))
                negative.meta["val"] = aten.lt.Scalar(value, 0)
                shifted = graph.graph.call_function(aten.add.Scalar, (index, size))
                shifted.meta["val"] = aten.add.Scalar(value, size)
                fixed = graph.graph.call_function(aten.where.self, (negative, shifted, index))
                fixed.meta["val"] = aten.where.self(
                    negative.meta["val"], shifted.meta["val"], value
                )
            indices[dim] = fixed
            changed = True
            wrapped += 1
        if changed:
            args = list(node.args)
            args[list_pos] = indices
            node.args = tuple(args)
    return wrapped


def drop_unchanged_buffers(
    graph: torch.fx.GraphModule,
    buffer_names: Sequence[str],
    *,
    first_buffer_arg: int,
    first_buffer_result: int,
) -> list[str]:
    """Remove buffer results that are the buffer argument itself (or a clone of it), and the
    clones of buffer arguments (functional IR has no use for them). Returns the names of the
    buffers that remain results, i.e. are updated by the step."""
    n_buffers = len(buffer_names)
    if not n_buffers:
        return []
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    buffer_args = placeholders[first_buffer_arg : first_buffer_arg + n_buffers]
    for node in list(graph.graph.nodes):
        if (
            node.op == "call_function"
            and node.target is torch.ops.aten.clone.default
            and node.args[0] in buffer_args
        ):
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    out_node = next(n for n in graph.graph.nodes if n.op == "output")
    results = list(out_node.args[0])
    buffer_results = results[first_buffer_result : first_buffer_result + n_buffers]
    keep = [
        i
        for i, (arg, res) in enumerate(zip(buffer_args, buffer_results, strict=True))
        if res is not arg
    ]
    out_node.args = (tuple(results[:first_buffer_result] + [buffer_results[i] for i in keep]),)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    return [buffer_names[i] for i in keep]


def _check_static(
    graph: torch.fx.GraphModule, fn: Callable[..., Any], example_args: Sequence[torch.Tensor]
) -> None:
    for node in graph.graph.nodes:
        value = node.meta.get("val")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, torch.Tensor) and not all(isinstance(d, int) for d in v.shape):
                op = _op_name(node.target)
                where = _source_of(fn, example_args, node.name)
                raise DynamicShapeError(
                    f"{op} produces a tensor whose shape depends on tensor data ({tuple(v.shape)})"
                    f"{where}; the captured step needs static shapes: use static example inputs "
                    "and shape-preserving ops (e.g. torch.where instead of boolean indexing)"
                )


def _check_deterministic(
    graph: torch.fx.GraphModule, fn: Callable[..., Any], example_args: Sequence[torch.Tensor]
) -> None:
    for node in graph.graph.nodes:
        if node.op != "call_function":
            continue
        name = _op_short_name(node.target)
        tags = getattr(node.target, "tags", ())
        # torch tags its random ops (randn_like, normal_, rrelu_with_noise, ...).
        if name in _RANDOM_OPS or torch.Tag.nondeterministic_seeded in tags:
            where = _source_of(fn, example_args, node.name)
            raise CaptureError(
                f"the step uses a random op ({_op_name(node.target)}){where}, e.g. functional "
                "dropout with p > 0 in training mode or noise from torch.randn_like; a captured "
                "step must be deterministic: set the dropout probabilities to 0 (or pass the "
                "noise in as an input)"
            )


# Ops the step cannot hold, with what to change.
_UNSUPPORTED_OPS = {
    "embedding_renorm": (
        "nn.Embedding(max_norm=...) renormalises rows of its weight in place during the forward "
        "pass, which the captured step cannot do to a parameter: use max_norm=None (or "
        "renormalise the weight outside the step)"
    ),
}


def _check_supported(
    graph: torch.fx.GraphModule, fn: Callable[..., Any], example_args: Sequence[torch.Tensor]
) -> None:
    for node in graph.graph.nodes:
        if node.op != "call_function":
            continue
        reason = _UNSUPPORTED_OPS.get(_op_short_name(node.target))
        if reason is not None:
            where = _source_of(fn, example_args, node.name)
            raise CaptureUsageError(f"the step uses {_op_name(node.target)}{where}: {reason}")


def _source_of(fn: Callable[..., Any], example_args: Sequence[torch.Tensor], node_name: str) -> str:
    """Trace again with stack traces recorded (only on the error path) to find the user line that
    created ``node_name``."""
    try:
        graph = _make_fx(fn, example_args, record_stack_traces=True)
    except Exception:
        return ""
    for node in graph.graph.nodes:
        if node.name == node_name:
            trace = node.meta.get("stack_trace") or ""
            frames = [
                line.strip() for line in trace.splitlines() if line.strip().startswith("File ")
            ]
            for line in reversed(frames):
                path = line.split('"')[1] if '"' in line else ""
                if path and _is_user_file(path):
                    lineno = line.split("line ")[1].split(",")[0] if "line " in line else "?"
                    return f" at {path}:{lineno}"
    return ""


_LIBRARY_DIRS = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (torch, contextlib) if m.__file__
)


_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_user_file(path: str) -> bool:
    if path.startswith("<"):  # code compiled from a string (<string>, <eval_with_key>): no file
        return False
    path = os.path.abspath(path)
    return not (
        path.startswith(_LIBRARY_DIRS) or path.startswith(_OWN_DIR) or "/torch_mlir/" in path
    )


def _user_frame(exc: BaseException) -> str:
    """``file:line: code`` of the innermost traceback frame in user (model) code."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if _is_user_file(frame.filename):
            code = f" (`{frame.line.strip()}`)" if frame.line else ""
            return f" at {frame.filename}:{frame.lineno}{code}"
    return ""


def _op_name(target: Any) -> str:
    name = getattr(target, "name", None)
    text = name() if callable(name) else str(target)
    return text.replace("::", ".")


def _op_short_name(target: Any) -> str:
    """The op's name without namespace and overload (``randn_like`` for
    ``aten.randn_like.default``), or "" for a target without a namespace."""
    parts = _op_name(target).split(".")
    return parts[1] if len(parts) > 1 else ""


def _translate_trace_error(exc: Exception) -> CaptureError | None:
    from torch._subclasses.fake_tensor import (
        DataDependentOutputException,
        DynamicOutputShapeException,
        FakeTensorDeviceMismatchError,
        UnsupportedOperatorException,
    )
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    where = _user_frame(exc)
    if isinstance(exc, GuardOnDataDependentSymNode):
        return DataDependentControlFlowError(
            "data-dependent control flow: a Python branch or value depends on tensor data "
            f"(aten._local_scalar_dense: `if tensor`, .item(), bool(), int()){where}; the captured "
            "step must not branch on tensor values: use torch.where or move the check out of "
            "the model"
        )
    if isinstance(exc, DataDependentOutputException):
        return DataDependentControlFlowError(
            f"data-dependent control flow: {_op_name(exc.func)} reads a tensor value into Python"
            f"{where}; the captured step must not branch on tensor values"
        )
    if isinstance(exc, DynamicOutputShapeException):
        return DynamicShapeError(
            f"{_op_name(exc.func)} produces a data-dependent shape{where}; the captured step "
            "needs static shapes: use static example inputs and shape-preserving ops"
        )
    if isinstance(exc, FakeTensorDeviceMismatchError):
        devices = sorted({str(exc.common_device), str(exc.device)})
        return CaptureUsageError(
            f"{_op_name(exc.func)} mixes tensors on {' and '.join(devices)}{where}: put the model "
            "and every example input and target on one device (the CPU)"
        )
    if isinstance(exc, UnsupportedOperatorException):
        return CaptureError(f"{_op_name(exc.func)} cannot be traced{where}")
    message = str(exc)
    if "convert all Tensors to FakeTensors" in message:
        return CaptureUsageError(
            f"the step uses a tensor that is neither a parameter, a buffer nor an input{where} "
            "(a plain module attribute or a global): register it with "
            "module.register_buffer(name, tensor) so that it becomes an argument of the step"
        )
    if "data-dependent" in message or "data dependent" in message:
        first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        return DataDependentControlFlowError(f"data-dependent control flow{where}: {first}")
    if "dynamic shape" in message.lower() or "symbolic" in message.lower():
        first = message.strip().splitlines()[0]
        return DynamicShapeError(f"dynamic shapes{where}: {first}; give static example inputs")
    ours = _decomposition_frame(exc)
    if ours is not None:
        # Our own decomposition of an op failed: a case it does not cover, or an op the
        # model calls wrongly (which eager PyTorch refuses too).
        first = message.strip().splitlines()[0] if message.strip() else ""
        return CaptureError(
            f"modelopt's decomposition {ours} failed while tracing the step{where} "
            f"({type(exc).__name__}: {first}); if eager PyTorch runs this step, this is a "
            "modelopt bug: please report it with the model"
        )
    return None


def _decomposition_frame(exc: BaseException) -> str | None:
    """The function in :mod:`decompositions` where ``exc`` was raised (the innermost of its
    frames, if the traceback passes through it), or None."""
    from modelopt_mlir.frontend import decompositions

    module_file = os.path.realpath(decompositions.__file__)
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == module_file:
            found = frame.name
    return found
