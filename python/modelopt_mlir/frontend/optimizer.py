"""torch.optim SGD, Adam and AdamW written functionally: their hyper-parameters
(:class:`OptimizerConfig`), their state, and one update step out of place, as the captured training
step computes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from modelopt_mlir.frontend.errors import UnsupportedOptimizerError

OptimizerKind = Literal["sgd", "adam", "adamw"]


@dataclass(frozen=True)
class OptimizerConfig:
    """A torch.optim optimizer written functionally. Hyper-parameters are compile-time constants."""

    kind: OptimizerKind = "sgd"
    lr: float = 1e-2
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    dampening: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("sgd", "adam", "adamw"):
            raise UnsupportedOptimizerError(f"unknown optimizer kind '{self.kind}'")
        if self.nesterov and (self.kind != "sgd" or self.momentum <= 0.0 or self.dampening):
            raise UnsupportedOptimizerError("nesterov needs sgd with momentum > 0 and dampening 0")

    @classmethod
    def from_torch(cls, optimizer: torch.optim.Optimizer) -> OptimizerConfig:
        """Read the hyper-parameters of a torch.optim SGD, Adam or AdamW instance whose param
        groups all share them (see :meth:`groups_from_torch` for groups that differ)."""
        configs = cls.groups_from_torch(optimizer)
        groups = optimizer.param_groups
        first = {k: v for k, v in groups[0].items() if k != "params"}
        for i, group in enumerate(groups[1:], start=1):
            for key in sorted(set(first) | set(group) - {"params"}):
                if group.get(key) != first.get(key):
                    raise UnsupportedOptimizerError(
                        f"{type(optimizer).__name__} param groups differ in '{key}' (group 0: "
                        f"{first.get(key)!r}, group {i}: {group.get(key)!r}); one set of "
                        "hyper-parameters is supported here (capture_training_step takes "
                        "groups that differ)"
                    )
        return configs[0]

    @classmethod
    def groups_from_torch(cls, optimizer: torch.optim.Optimizer) -> list[OptimizerConfig]:
        """The hyper-parameters of each param group of a torch.optim SGD, Adam or AdamW."""
        kind = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw"}.get(
            type(optimizer)
        )
        if kind is None:
            cls_ = type(optimizer)
            module = "torch.optim" if cls_.__module__.startswith("torch.optim") else cls_.__module__
            raise UnsupportedOptimizerError(
                f"unsupported optimizer {module}.{cls_.__qualname__}: supported are "
                "torch.optim.SGD, torch.optim.Adam and torch.optim.AdamW"
            )
        name = type(optimizer).__name__
        configs = []
        for i, group in enumerate(optimizer.param_groups):
            where = f" (param group {i})" if len(optimizer.param_groups) > 1 else ""
            for key in ("maximize", "amsgrad"):
                if group.get(key):
                    raise UnsupportedOptimizerError(f"{name}({key}=True){where} is not supported")
            configs.append(cls._from_group(kind, group))
        return configs

    @classmethod
    def _from_group(cls, kind: OptimizerKind, group: Mapping[str, Any]) -> OptimizerConfig:
        lr = float(group["lr"])  # a tensor lr too
        if kind == "sgd":
            return cls(
                "sgd",
                lr=lr,
                momentum=float(group.get("momentum", 0.0)),
                nesterov=bool(group.get("nesterov", False)),
                weight_decay=float(group.get("weight_decay", 0.0)),
                dampening=float(group.get("dampening", 0.0)),
            )
        betas = tuple(float(b) for b in group["betas"])
        return cls(
            kind,
            lr=lr,
            betas=(betas[0], betas[1]),
            eps=float(group["eps"]),
            weight_decay=float(group.get("weight_decay", 0.0)),
        )

    def state_names(self, param_name: str) -> list[str]:
        """Names of the per-parameter state tensors, in argument order."""
        if self.kind == "sgd":
            return [f"{param_name}.momentum_buffer"] if self.momentum > 0.0 else []
        return [f"{param_name}.exp_avg", f"{param_name}.exp_avg_sq"]

    @property
    def has_step_counter(self) -> bool:
        # SGD with dampening needs to know the first step (torch sets buf = grad there).
        return self.kind in ("adam", "adamw") or (self.momentum > 0.0 and self.dampening != 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "betas": list(self.betas),
            "eps": self.eps,
            "dampening": self.dampening,
        }


def torch_optimizer(
    config: OptimizerConfig, params: Sequence[torch.Tensor]
) -> torch.optim.Optimizer:
    """The torch.optim instance ``config`` stands for."""
    if config.kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            dampening=config.dampening,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    cls = torch.optim.Adam if config.kind == "adam" else torch.optim.AdamW
    return cls(
        params, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )


def initial_state(
    configs: Mapping[str, OptimizerConfig],
    params: Mapping[str, torch.Tensor],
    *,
    zeroed: bool = True,
) -> tuple[list[str], list[torch.Tensor]]:
    """Fresh optimizer state of ``params``, each with its own (param group's) ``configs``.
    ``zeroed=False`` leaves the tensors uninitialised, for tracing, which reads only their
    shapes: zeroing twice the parameters' bytes took 3 s of a 12-layer GPT-2's capture."""
    names: list[str] = []
    values: list[torch.Tensor] = []
    fresh = torch.zeros_like if zeroed else torch.empty_like
    for pname, p in params.items():
        for sname in configs[pname].state_names(pname):
            names.append(sname)
            values.append(fresh(p))
    if needs_step_counter(configs.values()):
        names.append("step")
        values.append(torch.zeros((), dtype=torch.float32))
    return names, values


def needs_step_counter(configs: Iterable[OptimizerConfig]) -> bool:
    """Whether the optimizer state ends with the scalar ``step`` (Adam, SGD with dampening)."""
    return any(c.has_step_counter for c in configs)


def functional_update(
    configs: Sequence[OptimizerConfig],
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    state: list[torch.Tensor],
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One optimizer step, out of place; mirrors torch.optim's single-tensor implementations.
    ``configs`` has each parameter's hyper-parameters (its param group's); ``state`` is each
    parameter's state in order, then ``step`` where any needs it."""
    new_params: list[torch.Tensor] = []
    new_state: list[torch.Tensor] = []
    if not configs:
        return new_params, new_state
    own_state = iter(state)
    step = state[-1] if needs_step_counter(configs) else None
    if configs[0].kind == "sgd":
        first_step = step == 0.0 if step is not None else None
        for config, p, g in zip(configs, params, grads, strict=True):
            if config.weight_decay:
                g = g + config.weight_decay * p
            if config.momentum > 0.0:
                buf = next(own_state)
                # A zero-initialised buffer makes step one equal torch's "buf = grad" (dampening 0).
                if first_step is None:
                    buf = config.momentum * buf + g
                else:
                    buf = torch.where(
                        first_step, g, config.momentum * buf + (1.0 - config.dampening) * g
                    )
                new_state.append(buf)
                g = g + config.momentum * buf if config.nesterov else buf
            new_params.append(p - config.lr * g)
        if step is not None:
            new_state.append(step + 1.0)
        return new_params, new_state

    assert step is not None
    step = step + 1.0
    # Bias corrections once per distinct (lr, betas), before the per-parameter updates.
    corrections: dict[tuple[float, float, float], tuple[torch.Tensor, torch.Tensor]] = {}
    for config in configs:
        key = (config.lr, *config.betas)
        if key not in corrections:
            bias_correction1 = 1.0 - torch.pow(config.betas[0], step)
            bias_correction2_sqrt = torch.sqrt(1.0 - torch.pow(config.betas[1], step))
            corrections[key] = (config.lr / bias_correction1, bias_correction2_sqrt)
    for config, p, g in zip(configs, params, grads, strict=True):
        lr, wd = config.lr, config.weight_decay
        beta1, beta2 = config.betas
        step_size, bias_correction2_sqrt = corrections[(lr, beta1, beta2)]
        exp_avg, exp_avg_sq = next(own_state), next(own_state)
        if config.kind == "adamw":
            p = p * (1.0 - lr * wd)
        elif wd:
            g = g + wd * p
        # The order of the products is chosen so that every temporary dies into the next one
        # (reuse-dying-inputs): the gradient's last use is g * g, which then holds the second
        # moment's increment, and the update is torch's addcdiv(exp_avg, denom, -step_size).
        exp_avg = beta1 * exp_avg + (1.0 - beta1) * g
        exp_avg_sq = beta2 * exp_avg_sq + (g * g) * (1.0 - beta2)
        denom = torch.sqrt(exp_avg_sq) / bias_correction2_sqrt + config.eps
        new_params.append(p + (exp_avg / denom) * -step_size)
        new_state.extend((exp_avg, exp_avg_sq))
    new_state.append(step)
    return new_params, new_state


def state_float_range(name: str) -> tuple[float, float] | None:
    """Values a state tensor must stay within for finite results (second moments and ``step``
    are never negative), or None."""
    if name == "step" or name.endswith(".exp_avg_sq"):
        return (0.0, 1.0)
    return None
