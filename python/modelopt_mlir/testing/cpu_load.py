"""Busy loops on every core: a loaded machine for checks that plans do not depend on load."""

from __future__ import annotations

import multiprocessing
import os
import time


def _burn(stop: float) -> None:
    while time.time() < stop:
        pass


class BusyCores:
    """Keeps every core (or ``workers`` processes) busy while the block runs, for at most
    ``seconds`` should the block never end."""

    def __init__(self, seconds: float = 3600.0, workers: int | None = None) -> None:
        self.seconds = seconds
        self.count = workers or os.cpu_count() or 2
        self.workers: list[multiprocessing.Process] = []

    def __enter__(self) -> BusyCores:
        stop = time.time() + self.seconds
        self.workers = [
            multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
            for _ in range(self.count)
        ]
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.join()
