"""Load test of the REST server: many concurrent clients for a fixed time (``make load-test``).

``python -m benchmarks.load_test [--clients 50] [--seconds 60] [--workers N]``:

1. finds ``models:/churnmodel@champion`` in the project's store (``[tracking] uri``: the
   ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``); if there is none, runs
   ``churnmodel train`` first (CDNOW, one to two minutes);
2. starts the server exactly as ``churnmodel serve`` does (the command of
   :func:`churnmodel.workflows.score.serve_command`) on a free loopback port; the server
   dies with this process, even when it is killed;
3. runs ``--clients`` client threads for ``--seconds``, each on its own keep-alive
   connection, posting realistic small requests: all the transactions of 1 to 5 CDNOW
   customers (``dataframe_split``, ``as_of`` 1998-06-30), the next request as soon as the
   previous answer is read;
4. stops the server and prints requests, throughput, latency percentiles and the answers by
   status, also written to ``benchmarks/results/load_test.json``.

Exit code 1 if any answer is a 5xx or any request fails to connect or times out (or nothing
was answered); 2 if the server does not start. Bounded: the start-up has ``--start-timeout``,
each request ``--request-timeout``, and the whole run ``--hard-timeout`` (after which the
server is stopped and the run fails).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
AS_OF = "1998-06-30"


class HardTimeout(Exception):
    """The whole run took longer than ``--hard-timeout``."""


@dataclass
class ClientStats:
    """What one client thread saw."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to send SIGTERM to the server when this process dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _ensure_model(settings: Any) -> None:
    """Train and register a model in the project's store if it has no champion."""
    from churnmodel import tracking
    from churnmodel.exceptions import ConfigError
    from churnmodel.workflows.score import default_model_uri

    tracking.open_store(settings.tracking.uri, experiment=None)
    try:
        tracking.resolve_model(default_model_uri(settings))
        return
    except ConfigError as exc:
        print(f"load test: {exc.args[0].splitlines()[0]}\nload test: training one first (CDNOW)")
    subprocess.run([sys.executable, "-m", "churnmodel.cli", "train"], check=True, timeout=1800)


def _bodies(n: int, seed: int) -> list[bytes]:
    """``n`` requests, each all the transactions of 1 to 5 random CDNOW customers."""
    from churnmodel.datasets import load_cdnow

    log = load_cdnow()
    assert isinstance(log, pd.DataFrame)
    tx = log[log["timestamp"] <= pd.Timestamp(AS_OF)]
    groups = [g for _, g in tx[["customer_id", "timestamp", "amount"]].groupby("customer_id")]
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(n):
        picked = rng.choice(len(groups), size=int(rng.integers(1, 6)), replace=False)
        rows = [
            [str(c), t.isoformat(), float(a)]
            for i in picked
            for c, t, a in groups[i].itertuples(index=False)
        ]
        request = {
            "dataframe_split": {"columns": ["customer_id", "timestamp", "amount"], "data": rows},
            "params": {"as_of": AS_OF},
        }
        bodies.append(json.dumps(request).encode())
    return bodies


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}) before answering")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"the server did not answer {url} within {timeout:.0f} s")


def _client(
    port: int,
    bodies: list[bytes],
    offset: int,
    stop_at: float,
    timeout: float,
    stats: ClientStats,
) -> None:
    conn: http.client.HTTPConnection | None = None
    i = offset
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < stop_at:
        body = bodies[i % len(bodies)]
        i += 1
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        started = time.perf_counter()
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException) as exc:
            stats.errors[type(exc).__name__] += 1
            conn.close()
            conn = None
            continue
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        stats.statuses[answer.status] += 1
        if answer.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _warm_up(port: int, body: bytes, timeout: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST", "/invocations", body=body, headers={"Content-Type": "application/json"}
        )
        answer = conn.getresponse()
        text = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise RuntimeError(f"the first request got {answer.status}: {text[:300]!r}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _on_alarm(signum: int, frame: object) -> None:
    raise HardTimeout


def _on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Run the load test (module docstring); return the exit code."""
    from churnmodel.config import load_settings
    from churnmodel.workflows.score import serve_command

    settings = load_settings(None, {})
    _ensure_model(settings)
    bodies = _bodies(2_000, seed=0)
    port = _free_port()
    resolved, command, env = serve_command(settings, port=port, workers=args.workers)
    args.workers = int(command[command.index("--workers") + 1])  # the one serve chose
    log_path = RESULTS / "load_test_server.log"
    RESULTS.mkdir(exist_ok=True)
    print(f"load test: serving {resolved.label} on 127.0.0.1:{port} ({args.workers} worker(s))")
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.alarm(args.hard_timeout)
    stats = [ClientStats() for _ in range(args.clients)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        try:
            try:
                _wait_ready(f"http://127.0.0.1:{port}/ping", server, args.start_timeout)
                # One request first: the first answer pays for lazy imports in the server.
                _warm_up(port, bodies[0], args.request_timeout)
            except (RuntimeError, TimeoutError, OSError) as exc:
                print(f"load test: {exc}; server log: {log_path}", file=sys.stderr)
                return 2
            print(f"load test: {args.clients} clients for {args.seconds:g} s ...", flush=True)
            started = time.monotonic()
            stop_at = started + args.seconds
            threads = [
                threading.Thread(
                    target=_client,
                    args=(port, bodies, 40 * k, stop_at, args.request_timeout, stats[k]),
                    daemon=True,
                )
                for k in range(args.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(timeout=1.0)
            elapsed = time.monotonic() - started
        except HardTimeout:
            print(f"load test: stopped after --hard-timeout {args.hard_timeout} s", file=sys.stderr)
            return 1
        finally:
            signal.alarm(0)
            _stop(server)
    return _report(args, stats, elapsed, resolved.label)


def _report(args: argparse.Namespace, stats: list[ClientStats], elapsed: float, model: str) -> int:
    ms = np.array([x for s in stats for x in s.latencies_ms])
    statuses: Counter[int] = sum((s.statuses for s in stats), Counter())
    errors: Counter[str] = sum((s.errors for s in stats), Counter())
    n = len(ms)
    by_class = {f"{c}xx": sum(v for k, v in statuses.items() if k // 100 == c) for c in (2, 4, 5)}
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python -m benchmarks.load_test --clients {args.clients} "
        f"--seconds {args.seconds:g} --workers {args.workers}",
        "model": model,
        "clients": args.clients,
        "workers": args.workers,
        "seconds": round(elapsed, 1),
        "requests": n,
        "throughput_rps": round(n / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if n else None,
        "p90_ms": round(float(np.percentile(ms, 90)), 1) if n else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if n else None,
        "max_ms": round(float(ms.max()), 1) if n else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        **by_class,
        "connection_errors": dict(errors),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_test.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"load test: {n:,} requests in {elapsed:.1f} s = {summary['throughput_rps']} req/s; "
        f"latency p50 {summary['p50_ms']} ms, p90 {summary['p90_ms']} ms, "
        f"p99 {summary['p99_ms']} ms, max {summary['max_ms']} ms"
    )
    print(
        f"load test: answers {summary['statuses']}; 4xx {by_class['4xx']}, 5xx {by_class['5xx']}, "
        f"connection errors {sum(errors.values())} {dict(errors) or ''}"
    )
    print(f"load test: results in {RESULTS / 'load_test.json'}; {summary['machine']}")
    failed = by_class["5xx"] or sum(errors.values()) or not n
    if failed:
        print("load test: FAILED (5xx, connection errors or no answers)", file=sys.stderr)
    return 1 if failed else 0


def report(quick: bool, *, big: bool = False) -> list[dict[str, Any]]:
    """The load test in ``make bench``: ``serve``'s default workers against one worker.

    Both runs (50 clients for 60 s; ``quick``: 10 clients for 10 s) start the server the way
    ``churnmodel serve`` does, one after the other in fresh processes; the one-worker run is
    the reference measured in the same invocation. ``big`` is ignored. Returns rows for
    ``benchmarks.run``'s results file.
    """
    del big
    clients, seconds = (10, 10.0) if quick else (50, 60.0)
    runs: dict[str, dict[str, Any]] = {}
    for label, workers in (("one worker (reference)", ["--workers", "1"]), ("default", [])):
        print(f"running the load test, {label} ...", file=sys.stderr, flush=True)
        command = [sys.executable, "-m", "benchmarks.load_test"]
        command += ["--clients", str(clients), "--seconds", f"{seconds:g}", *workers]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        result = RESULTS / "load_test.json"
        if done.returncode != 0 or not result.exists():
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            runs[label] = {"error": f"exit {done.returncode}: {tail}"}
            continue
        runs[label] = json.loads(result.read_text())
    reference, ours = runs["one worker (reference)"], runs["default"]
    print(f"\nload test: {clients} clients x {seconds:g} s (serve's default against one worker)")
    print(f"{'server':<36}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'5xx':>6}{'errors':>8}")
    for label, run in runs.items():
        if "error" in run:
            print(f"{label:<36} ERROR {run['error']}")
            continue
        name = f"{label} ({run['workers']} worker{'s' if run['workers'] != 1 else ''})"
        errors = sum(run["connection_errors"].values())
        print(
            f"{name:<36}{run['throughput_rps']:>10.1f}{run['p50_ms']:>10.1f}"
            f"{run['p99_ms']:>10.1f}{run['5xx']:>6}{errors:>8}"
        )
    ratio = None
    if "error" not in ours and "error" not in reference and reference["throughput_rps"]:
        ratio = ours["throughput_rps"] / reference["throughput_rps"]
        print(f"throughput default / one worker: {ratio:.2f}x (target: >= 60 req/s, p99 < 1.5 s)")
    return [
        {
            "case": f"load test, {label}",
            "ours_s": run.get("seconds"),
            "throughput_rps": run.get("throughput_rps"),
            "p99_ms": run.get("p99_ms"),
            "target": ">= 60 req/s, p99 < 1,500 ms, no errors (50 clients, 60 s)",
            **({"ratio_vs_one_worker": ratio} if label == "default" and ratio else {}),
            **({"error": run["error"]} if "error" in run else {}),
        }
        for label, run in runs.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--workers", type=int, default=None, help="server workers (default: serve's, one per core)"
    )
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--request-timeout", type=float, default=60.0)
    parser.add_argument(
        "--hard-timeout", type=int, default=0, help="whole run, s [default: seconds + 900]"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0:
        parser.error("--clients and --seconds must be positive")
    args.hard_timeout = args.hard_timeout or int(args.seconds) + 900
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the churnmodel command does
    try:
        return run(args)
    except KeyboardInterrupt:
        print("load test: interrupted; the server was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
