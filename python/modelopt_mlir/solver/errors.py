"""Errors shared by the solver's problem readers: one ProblemFileError class for every format
(CSV intervals and graph JSON in ``problem_files``, graph checks in ``graph``)."""

from __future__ import annotations


class ProblemFileError(ValueError):
    """A problem file that cannot be read; the message starts with ``file:line:``."""
