"""The request guard in front of MLflow's scoring app, against a stand-in app (no server).

The stand-in answers like MLflow's app does at its worst: it quotes the request in its error.
The guard must refuse malformed requests itself, pass good ones through untouched, and send
no request value back in any error (docs/reliability.md, "Serving").
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from churnmodel.serving.asgi import RequestGuard, request_values, safe_error_message

ROWS = [
    ["C-7731", "1998-01-05", 20.5],
    ["C-7731", "1998-03-10", 12.25],
    ["Q-0042", "1997-11-01", 40],
]
GOOD = {"dataframe_split": {"columns": ["customer_id", "timestamp", "amount"], "data": ROWS}}
SENT = ("C-7731", "Q-0042", "20.5", "12.25", "1998-01-05")


def _echoing_app(status: int, error: dict[str, Any] | None = None) -> Any:
    """An ASGI app that answers ``status`` with ``error`` plus the whole request quoted."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = {**(error or {}), "echo": f"Failed to predict data '{body.decode()}'"}
        if status == 200:
            payload = {"predictions": [{"customer_id": "C-7731"}]}
        out = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out[:10], "more_body": True})
        await send({"type": "http.response.body", "body": out[10:]})

    return app


def _call(
    app: Any, body: bytes, content_type: str = "application/json", method: str = "POST"
) -> tuple[int, str]:
    scope = {
        "type": "http",
        "method": method,
        "path": "/invocations",
        "headers": [(b"content-type", content_type.encode())],
    }
    chunks = [{"type": "http.request", "body": body[:7], "more_body": True}]
    chunks.append({"type": "http.request", "body": body[7:], "more_body": False})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(RequestGuard(app, max_request_bytes=10_000)(scope, receive, send))
    status = sent[0]["status"]
    text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    length = dict(sent[0]["headers"]).get(b"content-length")
    assert length is None or int(length) == len(text.encode())
    return status, text


def _leaked(text: str) -> list[str]:
    return [v for v in SENT if v in text]


def test_good_requests_pass_through_untouched() -> None:
    status, text = _call(_echoing_app(200), json.dumps(GOOD).encode())
    assert status == 200 and json.loads(text) == {"predictions": [{"customer_id": "C-7731"}]}


@pytest.mark.parametrize("status", [400, 404, 415, 422, 500, 503])
def test_error_bodies_from_the_app_never_echo_the_request(status: int) -> None:
    error = {"error_code": "BAD_REQUEST", "message": "Failed to enforce schema of data"}
    code, text = _call(_echoing_app(status, error), json.dumps(GOOD).encode())
    assert code == status and not _leaked(text)
    assert set(json.loads(text)) == {"error_code", "message"}


def test_the_model_message_comes_through_unless_it_holds_a_request_value() -> None:
    trace = (
        "Traceback (most recent call last):\n  ...\n"
        "churnmodel.exceptions.DataValidationError: request lacks column(s) 'amount'\n"
        "Hint: send customer_id, timestamp and amount\n"
    )
    error = {"error_code": "BAD_REQUEST", "message": "unexpected error", "stack_trace": trace}
    _, text = _call(_echoing_app(400, error), json.dumps(GOOD).encode())
    assert json.loads(text)["message"] == (
        "request lacks column(s) 'amount' (send customer_id, timestamp and amount)"
    )
    leaky = {**error, "stack_trace": trace.replace("'amount'", "'Q-0042'")}
    _, text = _call(_echoing_app(400, leaky), json.dumps(GOOD).encode())
    assert not _leaked(text) and "could not score this request" in text


MALFORMED: dict[str, tuple[bytes, str, int]] = {
    "not JSON": (b"C-7731,1998-01-05,20.5", "application/json", 400),
    "empty": (b"", "application/json", 400),
    "not UTF-8": (json.dumps(GOOD).encode() + b"\xff", "application/json", 400),
    "CSV": (b"customer_id,timestamp,amount\nC-7731,1998-01-05,20.5", "text/csv", 415),
    "no content type": (json.dumps(GOOD).encode(), "", 415),
    "latin-1": (json.dumps(GOOD).encode(), "application/json; charset=latin-1", 415),
    "list": (json.dumps(ROWS).encode(), "application/json", 400),
    "ids as keys": (json.dumps({"C-7731": 20.5}).encode(), "application/json", 400),
    "ragged": (
        json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": ROWS}}).encode(),
        "application/json",
        400,
    ),
    "as_of number": (
        json.dumps({**GOOD, "params": {"as_of": 20.5}}).encode(),
        "application/json",
        400,
    ),
    "as_of list": (
        json.dumps({**GOOD, "params": {"as_of": ["Q-0042"]}}).encode(),
        "application/json",
        400,
    ),
    "too large": (json.dumps({**GOOD, "pad": "C-7731" * 5_000}).encode(), "application/json", 413),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_requests_are_refused_before_the_app(name: str) -> None:
    body, content_type, expected = MALFORMED[name]
    status, text = _call(_echoing_app(200), body, content_type)
    assert status == expected, text
    assert not _leaked(text) and json.loads(text)["message"]


def test_other_methods_on_the_endpoint_are_405() -> None:
    status, text = _call(_echoing_app(200), b"", method="GET")
    assert status == 405 and "POST" in text


def test_request_values_and_messages() -> None:
    values = request_values({**GOOD, "params": {"as_of": "1998-06-30"}})
    assert {"C-7731", "Q-0042", "20.5", "12.25", "1998-01-05"} <= values
    assert "40" not in values  # two-digit numbers read like counts; they are left out
    assert "customer_id" not in values and "1998-06-30" not in values  # names, parameters
    body = json.dumps({"message": "x", "stack_trace": "churnmodel.exceptions.ConfigError: 3 rows"})
    assert safe_error_message(400, body.encode(), values) == "3 rows"
    assert "internal error" in safe_error_message(500, body.encode(), values)
    assert "could not score" in safe_error_message(400, b"not json", values)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_are_scored_at_most_concurrency_at_a_time(concurrency: int) -> None:
    """Eight concurrent requests reach the app at most ``concurrency`` at a time, all answered."""
    inside = 0
    most = 0

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal inside, most
        await receive()
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)  # the scoring thread: other requests may arrive meanwhile
        inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    unlimited = RequestGuard(slow_app)
    assert unlimited.concurrency is None
    guard = RequestGuard(slow_app, concurrency=concurrency)
    body = json.dumps(GOOD).encode()
    statuses: list[int] = []

    async def one() -> None:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/invocations",
            "headers": [(b"content-type", b"application/json")],
        }
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await guard(scope, receive, send)

    async def many() -> None:
        await asyncio.gather(*(one() for _ in range(8)))

    asyncio.run(many())
    assert statuses == [200] * 8
    assert most == concurrency
    with pytest.raises(ValueError, match="concurrency"):
        RequestGuard(slow_app, concurrency=0)


def test_serve_defaults_to_one_worker_per_core_with_one_native_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from churnmodel.serving import server

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    command, env = server.serve_command("models:/m@champion")
    assert command[command.index("--workers") + 1] == "3"
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    command, _ = server.serve_command("models:/m@champion", workers=1)
    assert command[command.index("--workers") + 1] == "1"
