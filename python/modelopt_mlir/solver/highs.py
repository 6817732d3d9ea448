"""HiGHS through PuLP, stopped by a node limit (a work limit) as well as by the clock."""

from __future__ import annotations

from typing import Any

import pulp


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
