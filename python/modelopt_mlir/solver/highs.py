"""HiGHS through PuLP: stopped by a node limit (a work limit) as well as by the clock, and
started from the variables' initial values (a warm start). Both ILPs (offsets, orders) use it."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import pulp

if TYPE_CHECKING:
    import highspy


class NodeLimitHiGHS(pulp.HiGHS):
    """PuLP's HiGHS interface, knowing the status a node limit (``mip_max_nodes``) ends with:
    PuLP's own table lacks it and raises KeyError. Like a time limit, it keeps the best
    solution found, if any."""

    def findSolutionValues(self, lp: pulp.LpProblem) -> Any:  # noqa: N802 (pulp's name)
        import highspy

        highs = lp.solverModel
        if highs.getModelStatus() != highspy.HighsModelStatus.kSolutionLimit:
            return super().findSolutionValues(lp)
        values = list(highs.getSolution().col_value)
        for var in lp.variables():
            var.varValue = values[var.index] if var.index < len(values) else None
        if highs.getInfo().primal_solution_status == 2:  # kSolutionStatusFeasible
            return pulp.constants.LpStatusOptimal, pulp.constants.LpSolutionIntegerFeasible
        return pulp.constants.LpStatusNotSolved, pulp.constants.LpSolutionNoSolutionFound


class WarmStartHiGHS(NodeLimitHiGHS):
    """pulp.HiGHS that hands the variables' initial values (0 where unset) to HiGHS as a
    starting solution, which PuLP's interface drops. Keeps what HiGHS reports after the run:
    the dual bound it proved (``dual_bound``, in model units; None when unknown), its nodes
    and simplex iterations.

    HiGHS (seen with 1.16) can return the starting solution unchanged while reporting a better
    objective and "optimal". On test_order_solver's padded-buffer graph, presolve's dual
    reductions keep only orders of peak 9 (the reduced objective is the constant 9); the start
    (program order, peak 10) is not one of them, yet HiGHS takes it as its incumbent at 9,
    stops at once, and hands back the start's own values, so the decoded order has peak 10.
    When the returned values evaluate worse than the reported objective, the solve runs again
    without presolve, from the same start, in the time left.
    """

    dual_bound: float | None = None
    nodes: int = 0
    iterations: int = 0

    def __init__(self, warm_start: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warm_start = warm_start

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 (pulp's name)
        highs = lp.solverModel
        if self.warm_start:
            self._run_from_start(lp)
        else:
            highs.run()
        try:
            info = highs.getInfo()
            bound = float(info.mip_dual_bound)
            self.dual_bound = bound if math.isfinite(bound) else None
            self.nodes = max(int(info.mip_node_count), 0)
            self.iterations = max(int(info.simplex_iteration_count), 0)
        except Exception:  # noqa: BLE001 - no bound is a valid answer
            self.dual_bound = None

    def _run_from_start(self, lp: pulp.LpProblem) -> None:
        import highspy

        highs = lp.solverModel
        variables = lp.variables()
        solution = highspy.HighsSolution()
        values = [0.0] * len(variables)
        for var in variables:
            values[var.index] = float(var.varValue or 0.0)
        solution.col_value = values
        solution.value_valid = True
        highs.setSolution(solution)
        began = time.perf_counter()
        highs.run()
        left = (self.timeLimit or math.inf) - (time.perf_counter() - began)
        if _returned_worse_than_reported(highs) and left > 0.05:
            # The same node limit again (a work limit, so the result does not depend on load).
            highs.clearSolver()
            highs.setOptionValue("presolve", "off")
            if math.isfinite(left):
                highs.setOptionValue("time_limit", left)  # HiGHS times each run afresh
            highs.setSolution(solution)
            highs.run()


def _returned_worse_than_reported(highs: highspy.Highs) -> bool:
    """Whether the values HiGHS returns evaluate worse than the objective it reports."""
    if highs.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
        return False
    lp = highs.getLp()
    values = highs.getSolution().col_value
    evaluated = lp.offset_ + sum(c * v for c, v in zip(lp.col_cost_, values, strict=True))
    reported = highs.getInfo().objective_function_value
    return bool(evaluated > reported + 1e-6 * max(1.0, abs(reported)))
