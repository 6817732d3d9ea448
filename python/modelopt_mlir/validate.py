"""Independent plan validator. It shares no code with the planner: it recomputes liveness from
the final order and checks the plan against the problem, so a planner bug cannot hide itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelopt_mlir.solver.problem import ScheduleProblem


@dataclass(frozen=True)
class PlanViolation:
    message: str


def check_plan(
    problem: ScheduleProblem,
    order: Sequence[int],
    offsets: Mapping[int, int],
    arena_size: int,
    max_violations: int = 20,
) -> list[PlanViolation]:
    """Every violation of: order is a permutation respecting all edges; each buffer with users
    has an aligned offset inside the arena; buffers live at the same step do not overlap."""
    violations: list[PlanViolation] = []
    n = problem.num_units
    if sorted(order) != list(range(n)):
        return [PlanViolation(f"order is not a permutation of the {n} units")]
    step_of = {unit: step for step, unit in enumerate(order)}
    for before, after in problem.edges:
        if step_of[before] >= step_of[after]:
            violations.append(
                PlanViolation(
                    f"unit {after} runs at step {step_of[after]} before unit {before} "
                    f"(step {step_of[before]}) that it depends on"
                )
            )
            if len(violations) >= max_violations:
                return violations

    live: list[tuple[int, int, int]] = []  # (first step, last step, buffer)
    for buffer, users in enumerate(problem.users):
        if not users:
            continue
        steps = [step_of[u] for u in users]
        size = problem.sizes[buffer]
        if buffer not in offsets:
            violations.append(PlanViolation(f"buffer {buffer} has no offset"))
            continue
        offset = offsets[buffer]
        alignment = problem.alignment[buffer] if problem.alignment else 1
        if offset < 0 or offset + size > arena_size:
            violations.append(
                PlanViolation(
                    f"buffer {buffer} [{offset}, {offset + size}) is outside the arena of "
                    f"{arena_size} bytes"
                )
            )
        if alignment > 1 and offset % alignment:
            violations.append(
                PlanViolation(f"buffer {buffer} offset {offset} is not {alignment}-byte aligned")
            )
        if size:
            live.append((min(steps), max(steps), buffer))

    # Sweep over steps; at each buffer's first step, compare it with every buffer still live.
    live.sort()
    active: list[tuple[int, int, int]] = []
    for first, last, buffer in live:
        active = [entry for entry in active if entry[1] >= first]
        lo = offsets[buffer]
        hi = lo + problem.sizes[buffer]
        for _, _, other in active:
            other_lo = offsets[other]
            other_hi = other_lo + problem.sizes[other]
            if lo < other_hi and other_lo < hi:
                violations.append(
                    PlanViolation(
                        f"buffers {other} [{other_lo}, {other_hi}) and {buffer} [{lo}, {hi}) "
                        f"are live at the same time (step {first}) and overlap"
                    )
                )
                if len(violations) >= max_violations:
                    return violations
        active.append((first, last, buffer))
    return violations
