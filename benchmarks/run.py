"""Run the benchmarks: ``make bench`` (all) or ``python -m benchmarks.run --quick --only features``.

Every case runs ours and the named reference in fresh processes in the same run, and reports
wall seconds, peak resident memory and the ratio reference / ours (higher = we are faster).
Results are printed and written to ``benchmarks/results/latest.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import Case, measure

MODULES = (
    "bench_features",
    "bench_models",
    "bench_spark",
    "bench_scoring",
    "load_test",
    "bench_train",
)
RESULTS = Path(__file__).parent / "results"


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:8.2f}s"


def run_case(case: Case) -> dict[str, Any]:
    """Measure one case: ours, then the reference, each in a fresh process."""
    row: dict[str, Any] = {
        "case": case.name,
        "target": case.target,
        "rows": case.rows,
        **case.extra,
    }
    ours = measure(case.ours, case.setup)
    if "error" in ours:
        row["error"] = ours["error"]
        return row
    row["ours_s"], row["ours_peak_mb"] = ours["seconds"], ours["peak_mb"]
    if case.rows:
        row["ours_rows_per_s"] = case.rows / ours["seconds"]
    if case.reference is not None:
        ref = measure(case.reference, case.reference_setup or case.setup)
        row["reference"] = case.reference_name
        if "error" in ref:
            row["reference_error"] = ref["error"]
        else:
            row["reference_s"], row["reference_peak_mb"] = ref["seconds"], ref["peak_mb"]
            row["speedup"] = ref["seconds"] / ours["seconds"]
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark modules and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument(
        "--only", action="append", default=[], help="module name part, e.g. features"
    )
    parser.add_argument(
        "--train-3m",
        action="store_true",
        help="the training benchmark also runs 3M customers (about 3x the 1M run)",
    )
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for name in MODULES:
        if args.only and not any(part in name for part in args.only):
            continue
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            print(f"skip {name}: {exc}", file=sys.stderr)
            continue
        if hasattr(module, "report"):  # a module with its own table (load_test, bench_train)
            rows.extend(module.report(args.quick, big=args.train_3m))
            continue
        for case in module.cases(args.quick):
            print(f"running {case.name} ...", file=sys.stderr, flush=True)
            row = run_case(case)
            rows.append(row)
            _print_row(row)
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "quick": args.quick,
    }
    (RESULTS / "latest.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwritten: {RESULTS / 'latest.json'}")
    return 1 if any("error" in r for r in rows) else 0


def _print_row(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"{row['case']:<44} ERROR {row['error']}")
        return
    line = f"{row['case']:<44} ours {_fmt(row.get('ours_s'))} {row.get('ours_peak_mb', 0):7.0f} MB"
    if "ours_rows_per_s" in row:
        line += f" {row['ours_rows_per_s'] / 1e6:6.2f}M rows/s"
    if "reference_s" in row:
        line += (
            f" | {row['reference']} {_fmt(row['reference_s'])} "
            f"{row['reference_peak_mb']:7.0f} MB | speedup {row['speedup']:5.1f}x"
        )
    elif "reference_error" in row:
        line += f" | {row['reference']} failed: {row['reference_error']}"
    if row.get("target"):
        line += f"  (target: {row['target']})"
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
