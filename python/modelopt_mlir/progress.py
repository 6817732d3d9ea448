"""Progress for long pipeline stages (capture, bufferize, solve) on stderr, with rich.

Quiet unless stderr is a terminal (or ``enabled=True`` forces it): logs, CI and pytest stay
clean. Each stage is timed whether or not anything is shown; the times feed the plan report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def progress_enabled(requested: bool | None) -> bool:
    """``None`` means: show progress when stderr is an interactive terminal."""
    if requested is not None:
        return requested
    return sys.stderr.isatty()


class StageProgress:
    """Times named stages; when enabled, shows a spinner per running stage and a tick when done.

    >>> stages = StageProgress(enabled=False)
    >>> with stages.stage("capture"):
    ...     pass
    >>> list(stages.seconds)
    ['capture']
    """

    def __init__(self, enabled: bool | None = None, title: str = "modelopt-mlir") -> None:
        self.enabled = progress_enabled(enabled)
        self.title = title
        self.seconds: dict[str, float] = {}
        self._console: Any = None
        if self.enabled:
            from rich.console import Console

            self._console = Console(stderr=True)

    @contextmanager
    def stage(
        self, name: str, description: str | None = None, *, show: bool = True
    ) -> Iterator[None]:
        """Time one stage (repeated names add up); show it while it runs when enabled and
        ``show`` (off when the stage draws its own progress)."""
        text = description or name
        start = time.perf_counter()
        console = self._console if show else None
        try:
            if console is None:
                yield
            else:
                with console.status(f"[bold]{self.title}[/]: {text} ...", spinner="dots"):
                    yield
        except BaseException:
            if console is not None:
                console.print(f"[red]x[/] {text} failed after {time.perf_counter() - start:.1f} s")
            raise
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
        if console is not None:
            console.print(f"[green]ok[/] {text} [dim]{elapsed:.2f} s[/]")

    def note(self, message: str) -> None:
        """A one-line message on stderr, only when enabled."""
        if self._console is not None:
            self._console.print(f"[dim]{message}[/]")
