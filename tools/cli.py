"""What the command-line tools share."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import Any


def quiet_broken_pipe(main: Callable[..., int]) -> Callable[..., int]:
    """``main`` with output into a pipe that its reader closed (``modelopt-opt ... | head``)
    ending quietly with status 1 instead of a BrokenPipeError traceback (Python's advice:
    point stdout at devnull so that the exit flush does not fail again)."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            status = main(*args, **kwargs)
            sys.stdout.flush()
            return status
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1

    return wrapper


class UsageError(Exception):
    """A bad command line: the tool prints its usage and the message, and exits 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so the tool reports it its way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)
