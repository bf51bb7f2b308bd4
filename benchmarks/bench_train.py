"""Where training time goes: ``churnmodel train`` end to end on simulated logs of growing size.

For each size (100k and 1M customers; ``--train-3m`` adds 3M, about three times the 1M run;
``--quick`` runs 10k and 30k) the simulated log (``bench_features.simulated_log``, cached in
``benchmarks/.cache/``) is trained on exactly as a user runs it: ``churnmodel train --data
<log>`` in a fresh process, with its MLflow store in a temporary folder (registration and
promotion included). Measured per run:

* wall seconds and peak resident memory of the whole process (``os.wait4``'s ``ru_maxrss``,
  what ``/usr/bin/time -v`` reports);
* time per stage, from the progress lines ``train`` writes (``[  12.3 s] fitting ...``): a
  stage lasts until the next line, the last until the process exits, ``start-up`` is the time
  before the first line. Stages repeated at each cut-off (holdout, season-aligned, refit) are
  summed under one name, the date left out;
* the growth exponent of every stage between consecutive sizes, ``log(t2 / t1) / log(n2 /
  n1)``: 1 is linear in the data, above 1 grows faster than it (target: at most 1.1).

The reference of a size is the previous size in the same run: the exponent is a ratio of
two timings taken on the same machine minutes apart. Results are printed and written to
``benchmarks/results/train.json``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
_LINE = re.compile(r"^\[\s*(\d+(?:\.\d+)?) s\] (.*)$")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(: )?")
_NUMBER = re.compile(r"\d[\d,.]*")
_STORE = re.compile(r"\s*\([^)]*[/:][^)]*\)")


@dataclass
class TrainRun:
    """One ``churnmodel train`` process: wall, peak memory and seconds per stage."""

    customers: int
    wall_s: float
    peak_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    returncode: int = 0
    error: str = ""


def stage_name(message: str) -> str:
    """The stage a progress line starts, without its cut-off date, counts or store address."""
    name = _STORE.sub("", _DATE.sub("", message))
    if name.startswith("loading "):
        return "loading the log"
    if name.startswith("loaded "):
        return "loaded: validate, build the log"
    if name.startswith("holdout evaluation"):
        return "holdout evaluation"
    if name.startswith("season-aligned evaluation"):
        return "season-aligned evaluation"
    return _NUMBER.sub("#", name).strip()


def stage_seconds(lines: list[tuple[float, str]], wall_s: float) -> dict[str, float]:
    """Seconds per stage from ``(arrival second, line)`` pairs of ``train``'s stderr.

    Only ``[  t s] message`` lines start a stage (others are ignored); a stage lasts from its
    line's arrival to the next one's, the last one to ``wall_s`` (the process's end). The time
    before the first line is ``start-up`` (interpreter, imports, argument checks).
    """
    marks = [(t, m.group(2)) for t, m in ((t, _LINE.match(line)) for t, line in lines) if m]
    if not marks:
        return {"(no progress lines)": wall_s}
    out: dict[str, float] = {"start-up": marks[0][0]}
    ends = [t for t, _ in marks[1:]] + [max(wall_s, marks[-1][0])]
    for (start, message), end in zip(marks, ends, strict=True):
        name = stage_name(message)
        out[name] = out.get(name, 0.0) + max(end - start, 0.0)
    return out


def growth_exponent(n1: float, t1: float, n2: float, t2: float) -> float:
    """``log(t2 / t1) / log(n2 / n1)``: 1 for linear growth; NaN without two positive times."""
    if min(n1, n2, t1, t2) <= 0 or n1 == n2:
        return math.nan
    return math.log(t2 / t1) / math.log(n2 / n1)


def run_train(log: Path, customers: int, timeout_s: float = 4 * 3600) -> TrainRun:
    """Run ``churnmodel train --data log`` in a fresh process with a throw-away MLflow store."""
    command = [str(Path(sys.executable).with_name("churnmodel")), "train", "--data", str(log)]
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        env.pop("CHURNMODEL_CONFIG", None)
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        assert proc.stderr is not None
        for line in proc.stderr:  # each line timed as it arrives, and shown
            lines.append((time.perf_counter() - start, line.rstrip("\n")))
            if _LINE.match(line):
                print(f"  {customers:,}: {line.rstrip()}", file=sys.stderr, flush=True)
            if time.perf_counter() - start > timeout_s:
                proc.kill()
                break
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    run = TrainRun(customers, wall, usage.ru_maxrss / 1024, stage_seconds(lines, wall), code)
    if code != 0:
        run.error = (lines[-1][1] if lines else f"exit {code}")[:200]
    return run


def table(runs: list[TrainRun]) -> list[dict[str, Any]]:
    """One row per stage (and the whole run): seconds and share per size, growth exponents."""
    names: list[str] = []
    for run in runs:
        names += [n for n in run.stages if n not in names]
    rows: list[dict[str, Any]] = []
    for name in ["total (wall)", "peak memory (MiB)", *names]:
        row: dict[str, Any] = {"stage": name}
        values = []
        for run in runs:
            if name == "total (wall)":
                value = run.wall_s
            elif name == "peak memory (MiB)":
                value = run.peak_mb
            else:
                value = run.stages.get(name, 0.0)
            row[f"{run.customers}"] = value
            if name != "peak memory (MiB)":
                row[f"{run.customers}_share"] = value / run.wall_s if run.wall_s else math.nan
            values.append(value)
        for a, b, (ta, tb) in zip(runs, runs[1:], itertools.pairwise(values), strict=False):
            row[f"exponent_{a.customers}_{b.customers}"] = growth_exponent(
                a.customers, ta, b.customers, tb
            )
        rows.append(row)
    return rows


def print_table(runs: list[TrainRun], rows: list[dict[str, Any]]) -> None:
    sizes = [r.customers for r in runs]
    head = f"{'churnmodel train, stage':<52}" + "".join(f"{n:>14,}" for n in sizes)
    head += "".join(f"  exp {a // 1000}k->{b // 1000}k" for a, b in itertools.pairwise(sizes))
    print(head)
    for row in rows:
        line = f"{row['stage'][:52]:<52}"
        for n in sizes:
            value = row[f"{n}"]
            share = row.get(f"{n}_share")
            cell = f"{value:8.1f}" + (f" {share:4.0%}" if share is not None else "     ")
            line += f"{cell:>14}"
        for a, b in itertools.pairwise(sizes):
            exponent = row[f"exponent_{a}_{b}"]
            flag = " !" if exponent > 1.1 and row[f"{b}"] > 0.05 * runs[-1].wall_s else ""
            line += f"  {exponent:11.2f}{flag}"
        print(line, flush=True)
    print("(seconds, share of the run; exponent: log t ratio / log size ratio; ! above 1.1 on a")
    print(" stage over 5% of the largest run)")


def report(quick: bool, *, big: bool = False) -> list[dict[str, Any]]:
    """Run the training benchmark; return rows for ``benchmarks.run``'s results file."""
    from benchmarks.bench_features import simulated_log

    sizes = [10_000, 30_000] if quick else [100_000, 1_000_000]
    if big and not quick:
        sizes.append(3_000_000)
    runs = []
    for n in sizes:
        print(f"running churnmodel train ({n:,} customers) ...", file=sys.stderr, flush=True)
        run = run_train(simulated_log(n), n)
        if run.error:
            print(f"churnmodel train ({n:,} customers) failed: {run.error}", flush=True)
        runs.append(run)
    rows = table(runs)
    print_table(runs, rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train.json").write_text(
        json.dumps({"runs": [vars(r) for r in runs], "table": rows}, indent=2)
    )
    out = [
        {
            "case": f"churnmodel train ({r.customers:,} customers)",
            "ours_s": r.wall_s,
            "ours_peak_mb": r.peak_mb,
            "target": "1M: <= 240 s, <= 4 GB; no stage exponent > 1.1",
            **({"error": r.error} if r.error else {}),
        }
        for r in runs
    ]
    return out


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["--only", "bench_train", *sys.argv[1:]]))
