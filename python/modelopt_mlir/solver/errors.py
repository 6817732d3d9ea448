"""Errors shared by the solver's problem readers: one ProblemFileError class for every format
(CSV intervals in ``instances``, graph JSON in ``graph``)."""

from __future__ import annotations

from modelopt_mlir.solver.instances import ProblemFileError

__all__ = ["ProblemFileError"]
