"""Measure a callable in a fresh process: wall time and peak resident memory.

Each case runs in its own spawned interpreter so that peak memory (``ru_maxrss``) belongs to
that case alone and one case's caches do not speed up another. Benchmark modules expose
``cases(quick: bool) -> list[Case]``; ``benchmarks.run`` runs them and prints one table with
each of our timings beside the named reference measured in the same run.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    """One comparison: our call and the reference call, on the same prepared input.

    ``setup`` runs in the child before the clock starts and returns the argument passed to
    ``ours`` (e.g. a path to a Parquet file); ``reference_setup`` (default: ``setup``) does the
    same for ``reference`` (e.g. the DataFrame a pandas-based reference needs in memory).
    """

    name: str
    ours: Callable[[Any], Any]
    reference: Callable[[Any], Any] | None = None
    reference_name: str = ""
    setup: Callable[[], Any] = lambda: None
    reference_setup: Callable[[], Any] | None = None
    target: str = ""
    rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _child(fn: Callable[[Any], Any], setup: Callable[[], Any], queue: Any) -> None:
    try:
        arg = setup()
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        fn(arg)
        elapsed = time.perf_counter() - start
        # A case that runs a command (a whole `churnmodel` process) reports that process's
        # peak: the largest of this process and the children it waited for.
        peak = max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        queue.put({"seconds": elapsed, "peak_mb": peak / 1024, "setup_peak_mb": base / 1024})
    except BaseException as exc:  # report, do not hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def measure(fn: Callable[[Any], Any], setup: Callable[[], Any] = lambda: None) -> dict[str, Any]:
    """Run ``fn(setup())`` in a spawned process; return seconds and peak RSS in MB."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, setup, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result
