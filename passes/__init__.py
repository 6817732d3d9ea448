"""Our MLIR passes. Each pass is a frozen dataclass with a kebab-case ``name``; its typed fields are
its options (``memory-plan{time-limit=10}`` fills ``time_limit``). The registry is lazy so the tools
start without importing every pass."""

from __future__ import annotations

import dataclasses
import importlib
import shlex
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args, get_origin

from torch_mlir import ir

from modelopt_mlir.diagnostics import DiagnosticEngine

# name -> "module:Class"; importing happens only when a pass is used.
PASS_REGISTRY: dict[str, str] = {
    "memory-plan": "modelopt_mlir.passes.memory_plan:MemoryPlanPass",
    "clone-shared-fills": "modelopt_mlir.passes.clone_shared_fills:CloneSharedFillsPass",
    "lower-to-gpu": "modelopt_mlir.passes.lower_to_gpu:LowerToGpuPass",
    "update-in-place": "modelopt_mlir.passes.update_in_place:UpdateInPlacePass",
    "reuse-dying-inputs": "modelopt_mlir.passes.reuse_dying_inputs:ReuseDyingInputsPass",
    "fold-transposes": "modelopt_mlir.passes.fold_transposes:FoldTransposesPass",
}


class PassOptionError(ValueError):
    """A pass option that does not exist or does not parse: a usage error."""


@dataclass
class PassContext:
    """What a pass run reports besides the IR: diagnostics and per-function plan reports."""

    diagnostics: DiagnosticEngine = field(default_factory=DiagnosticEngine)
    reports: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ModulePass:
    """A pass over a whole ``builtin.module``. Subclasses set ``name`` and ``summary``.

    A pass that fails emits error diagnostics, raises ``PassFailure`` and leaves the IR as it
    found it."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def apply(self, module: ir.Module, diagnostics: DiagnosticEngine) -> None:
        raise NotImplementedError

    def run(self, module: ir.Module, context: PassContext) -> None:
        self.apply(module, context.diagnostics)

    @classmethod
    def option_names(cls) -> dict[str, dataclasses.Field[Any]]:
        return {f.name.replace("_", "-"): f for f in dataclasses.fields(cls)}

    @classmethod
    def from_options(cls, text: str) -> ModulePass:
        """Parse ``key=value key2=value2`` (mlir-opt's pass option syntax)."""
        hints = typing.get_type_hints(cls)
        fields = cls.option_names()
        values: dict[str, Any] = {}
        try:
            items = shlex.split(text.replace(",", " "))
        except ValueError as exc:
            raise PassOptionError(
                f"pass '{cls.name}': cannot parse options '{text}': {exc}"
            ) from exc
        for item in items:
            key, sep, raw = item.partition("=")
            if key not in fields:
                known = ", ".join(sorted(fields)) or "none"
                raise PassOptionError(f"pass '{cls.name}' has no option '{key}' (options: {known})")
            if not sep:
                raw = "true"
            field = fields[key]
            values[field.name] = _convert_option(cls.name, key, raw, hints[field.name])
        return cls(**values)

    def pipeline_text(self) -> str:
        opts = []
        for key, option in self.option_names().items():
            value = getattr(self, option.name)
            if value != option.default:
                opts.append(f"{key}={_format_option(value)}")
        return f"{self.name}{{{' '.join(opts)}}}" if opts else self.name


def _format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _convert_option(pass_name: str, key: str, raw: str, hint: Any) -> Any:
    origin = get_origin(hint)
    try:
        if hint is bool:
            if raw.lower() in ("true", "1", "on", "yes"):
                return True
            if raw.lower() in ("false", "0", "off", "no"):
                return False
            raise ValueError(raw)
        if hint is int:
            value = int(raw)
            if value < 0:
                raise ValueError(raw)
            return value
        if hint is float:
            value = float(raw)
            if value < 0:
                raise ValueError(raw)
            return value
        if origin is Literal:
            choices = get_args(hint)
            if raw not in choices:
                raise PassOptionError(
                    f"pass '{pass_name}': option '{key}' must be one of "
                    f"{', '.join(choices)}, got '{raw}'"
                )
            return raw
        return raw
    except PassOptionError:
        raise
    except ValueError as exc:
        raise PassOptionError(
            f"pass '{pass_name}': invalid value '{raw}' for option '{key}'"
        ) from exc


def lookup_pass(name: str) -> type[ModulePass] | None:
    target = PASS_REGISTRY.get(name)
    if target is None:
        return None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
