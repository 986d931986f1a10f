"""What a verbose export reports: each phase's time, and a progress bar over a large program.

Silent unless asked (``verbose=True`` or ``jax2onnx export --verbose``). Timings go to stderr;
the bar is drawn only when stderr is a terminal, and only for programs of at least
``BAR_FROM`` top-level equations.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

BAR_FROM = 200


class Report:
    """Per-phase timings of one export, printed as each phase ends when ``enabled``."""

    def __init__(self, enabled: bool, stream: Any = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
            if self.enabled:
                print(f"jax2onnx: {name:8s} {self.timings[name]:8.3f} s", file=self.stream, flush=True)

    @contextlib.contextmanager
    def equations(self, total: int) -> Iterator[Callable[[], None]]:
        """A callable to call once per top-level equation lowered; draws a bar when it helps."""
        if not (self.enabled and total >= BAR_FROM and _is_terminal(self.stream)):
            yield lambda: None
            return
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn  # noqa: PLC0415

        columns = ("lowering", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(file=self.stream), transient=True) as bar:
            task = bar.add_task("lowering", total=total)
            yield lambda: bar.advance(task)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
