"""The REST app: MLflow's scoring server behind a guard that never sends a request back.

``mlflow models serve`` has no hook for its error responses, and several of them repeat what
the client sent: a body that is not JSON is quoted whole ("Ensure that input is a valid JSON
formatted string ... Input: <body>"), an error raised while MLflow enforces the signature
quotes the parsed rows ("Failed to predict data '<rows>'"), and unexpected errors carry a
stack trace. A scoring request holds customers' ids, dates and amounts, which must not come
back in an error that may end up in a client's logs.

So ``churnmodel serve`` runs MLflow's own scoring app (:func:`mlflow.pyfunc.scoring_server.init`,
the app ``mlflow models serve`` runs: same endpoints, request formats and timeout) under uvicorn,
wrapped in :class:`RequestGuard`, a plain ASGI middleware that, for ``POST /invocations``:

1. refuses, before MLflow sees them, requests it can tell are malformed: a content type other
   than JSON (415), a body over the size limit (413; read and dropped up to twice the limit so
   that the client gets the answer), an empty body, a body that is not UTF-8 JSON, JSON that
   is not an object with exactly one of ``dataframe_split`` / ``dataframe_records``, a table
   of the wrong shape, ``params`` that is not an object or an ``as_of`` that is not a string
   (400), each with a message of its own that names the rule, never a value;
2. passes everything else to MLflow unchanged, and replaces the body of any error response
   (status >= 400) by ``{"error_code": ..., "message": ...}``: the model's own error message
   (a :class:`~churnmodel.exceptions.ChurnModelError`, which by design names columns, reasons
   and counts, never rows) when it can be found in MLflow's response and contains none of the
   request's values, a fixed message for the status otherwise;
3. with ``concurrency`` set (``__churnmodel_concurrency__``; default: no limit), scores at
   most that many requests at a time, the others waiting on the event loop rather than in
   MLflow's request threads. Measured on the shared 2-core machine the limit did not pay
   (``docs/reliability.md``), so throughput comes from one worker per core instead
   (:func:`churnmodel.serving.serve_command`); the knob stays for machines where the request
   threads do contend.

:func:`create_app` is the uvicorn application factory; the model URI, the request timeout and
the size limit come from the environment :func:`churnmodel.serving.serve_command` sets.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "CONCURRENCY_ENV",
    "DEFAULT_MAX_REQUEST_BYTES",
    "MAX_REQUEST_BYTES_ENV",
    "MODEL_URI_ENV",
    "RequestGuard",
    "create_app",
    "request_values",
    "safe_error_message",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Environment variable holding the model URI (or folder) the app serves.
MODEL_URI_ENV = "__churnmodel_model_uri__"
#: Environment variable holding the largest request body accepted, in bytes.
MAX_REQUEST_BYTES_ENV = "__churnmodel_max_request_bytes__"
#: Environment variable holding how many requests one worker scores at a time.
CONCURRENCY_ENV = "__churnmodel_concurrency__"
#: Default size limit of a request body: 16 MiB (about 300,000 transactions as JSON).
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024

_FORMATS = ("dataframe_split", "dataframe_records")
_FORMAT_HELP = (
    'send {"dataframe_split": {"columns": ["customer_id", "timestamp", "amount"], '
    '"data": [[...], ...]}, "params": {"as_of": "YYYY-MM-DD"}} (docs/mlflow.md)'
)
_GENERIC = {
    400: "the model could not score this request; " + _FORMAT_HELP,
    404: "not found: POST scoring requests to /invocations",
    405: "method not allowed: POST scoring requests to /invocations",
    413: "the request body is too large",
    415: "unsupported content type: send Content-Type: application/json",
}
_ERROR_CODES = {413: "REQUEST_LIMIT_EXCEEDED", 415: "BAD_REQUEST", 404: "ENDPOINT_NOT_FOUND"}
# A churnmodel error in the stack trace MLflow attaches to an error response.
_MODEL_ERROR = re.compile(r"churnmodel\.exceptions\.\w+: (?P<message>.*)", re.DOTALL)
# Bodies larger than this are parsed in a thread, off the event loop.
_PARSE_IN_THREAD_BYTES = 1_000_000
_TOKEN = re.compile(r"[^\s'\"`,;:()\[\]{}<>=]+")


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _leaves(obj: Any) -> Iterable[Any]:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            yield item


def request_values(payload: Any) -> set[str]:
    """Return the text forms of every value in a request's table (not its keys or columns).

    Small numbers (one or two digits) are left out: they are indistinguishable from the
    counts an error message gives ("2 rows have ...") and say nothing about a customer.
    """
    if not isinstance(payload, dict):
        return set()
    table = {k: v for k, v in payload.items() if k in _FORMATS}
    split = table.get("dataframe_split")
    if isinstance(split, dict):  # columns are names, not customer data
        table["dataframe_split"] = {k: v for k, v in split.items() if k != "columns"}
    values: set[str] = set()
    for leaf in _leaves(table):
        if isinstance(leaf, bool) or leaf is None:
            continue
        if isinstance(leaf, float):
            forms = {repr(leaf), f"{leaf:g}", f"{leaf:.2f}"}
            if leaf.is_integer():
                forms.add(str(int(leaf)))
        else:
            forms = {str(leaf).strip()}
        values.update(f for f in forms if f and not (f.isdigit() and len(f) <= 2))
    return values


def _leaks(message: str, values: set[str]) -> bool:
    tokens = {t.strip(".") for t in _TOKEN.findall(message)}
    for value in values:
        if value in tokens:
            return True
        # Text of three or more characters is looked for anywhere (it may contain spaces);
        # numbers only as whole tokens, or "1,234 rows" would match an amount of 234.
        if len(value) >= 3 and not _is_number(value) and value in message:
            return True
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def safe_error_message(status: int, body: bytes, values: set[str]) -> str:
    """Return the message to send for an error response of MLflow's app.

    The model's own message (found after ``churnmodel.exceptions.<Error>:`` in MLflow's
    response) when it holds none of ``values``; otherwise a fixed message for ``status``.
    """
    generic = _GENERIC.get(status)
    if generic is None:
        generic = (
            "the server could not score this request (internal error)"
            if status >= 500
            else "the request was refused; " + _FORMAT_HELP
        )
    try:
        error = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return generic
    if not isinstance(error, dict):
        return generic
    text = "\n".join(str(error.get(k, "")) for k in ("message", "stack_trace"))
    found = _MODEL_ERROR.match(text, max(text.rfind("churnmodel.exceptions."), 0))
    if found is None or status >= 500:
        return generic
    lines = found.group("message").strip().splitlines() or [""]
    message = lines[0]
    hint = next((line for line in lines[1:] if line.startswith("Hint: ")), None)
    if hint:
        message = f"{message} ({hint[len('Hint: ') :]})"
    return generic if _leaks(message, values) else message


def _check_request(content_type: str | None, body: bytes) -> Any:
    """Refuse what is malformed on its face; return the parsed JSON otherwise."""
    media, *parameters = (content_type or "").lower().split(";")
    if media.strip() != "application/json":
        raise _Refusal(415, _GENERIC[415])
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() != "charset" or value.strip().strip('"') != "utf-8":
            raise _Refusal(415, "unsupported content type: send JSON in UTF-8 (charset=utf-8)")
    if not body.strip():
        raise _Refusal(400, "the request body is empty; " + _FORMAT_HELP)
    try:
        payload = json.loads(body)
    except UnicodeDecodeError as exc:
        raise _Refusal(400, f"the request body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _Refusal(
            400,
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
        ) from None
    if not isinstance(payload, dict):
        raise _Refusal(
            400, f"the request must be a JSON object, got a {_json_type(payload)}; {_FORMAT_HELP}"
        )
    formats = [k for k in _FORMATS if k in payload]
    others = [k for k in payload if k not in (*_FORMATS, "params")]
    if len(formats) != 1 or others:
        raise _Refusal(
            400,
            "the request must hold exactly one of 'dataframe_split' or 'dataframe_records' "
            f"(and optionally 'params'); it holds {len(formats)} of them and {len(others)} "
            f"other key(s); {_FORMAT_HELP}",
        )
    table = payload[formats[0]]
    if formats[0] == "dataframe_split":
        if not (
            isinstance(table, dict)
            and isinstance(table.get("columns"), list)
            and isinstance(table.get("data"), list)
            and all(isinstance(row, list) for row in table["data"])
        ):
            raise _Refusal(
                400,
                "'dataframe_split' must be an object with a 'columns' list and a 'data' list "
                "of rows (lists)",
            )
        width = len(table["columns"])
        bad = sum(len(row) != width for row in table["data"])
        if bad:
            raise _Refusal(
                400, f"{bad} row(s) of 'dataframe_split' do not have {width} values, one per column"
            )
    elif not (isinstance(table, list) and all(isinstance(r, dict) for r in table)):
        raise _Refusal(400, "'dataframe_records' must be a list of objects, one per transaction")
    params = payload.get("params")
    if params is not None:
        if not isinstance(params, dict):
            raise _Refusal(400, f"'params' must be a JSON object, got a {_json_type(params)}")
        as_of = params.get("as_of")
        if as_of is not None and not isinstance(as_of, str):
            raise _Refusal(
                400, f"params 'as_of' must be a string 'YYYY-MM-DD', got a {_json_type(as_of)}"
            )
    return payload


def _json_type(value: Any) -> str:
    names = {list: "list", dict: "object", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _json_error(status: int, message: str) -> bytes:
    code = _ERROR_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    return json.dumps({"error_code": code, "message": message}).encode()


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: refuse malformed scoring requests, and send no request data back.

    Parameters
    ----------
    app
        The wrapped ASGI app (MLflow's scoring app).
    max_request_bytes
        Largest request body accepted; a longer one gets 413 (see :meth:`_discard`).
    path
        The scoring endpoint; other paths pass through untouched (``/ping``, ``/health``,
        ``/version``).
    concurrency
        Requests scored at the same time (None: no limit); the others wait their turn on the
        event loop.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        path: str = "/invocations",
        concurrency: int | None = None,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.path = path
        self.concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None  # made on the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (see the class docstring)."""
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        if scope.get("method") != "POST":
            await _respond(send, 405, _json_error(405, _GENERIC[405]))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self._read_body(headers, receive)
            if len(body) > _PARSE_IN_THREAD_BYTES:
                payload = await asyncio.to_thread(_check_request, headers.get("content-type"), body)
            else:
                payload = _check_request(headers.get("content-type"), body)
        except _Refusal as refusal:
            await _respond(send, refusal.status, _json_error(refusal.status, refusal.message))
            return
        if self.concurrency is None:
            await self._forward(scope, body, payload, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            await self._forward(scope, body, payload, send)

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_request_bytes:
            if int(declared) <= 2 * self.max_request_bytes:
                await self._discard(receive, 0)
            raise _Refusal(413, self._too_large())
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refusal(400, "the client disconnected before the request was complete")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                if message.get("more_body", False):
                    await self._discard(receive, size)
                raise _Refusal(413, self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _discard(self, receive: Receive, size: int) -> None:
        """Read the rest of a body that is too large, up to twice the limit, and drop it.

        A server that answers and closes while the client is still sending makes the kernel
        reset the connection, and the client may never see the 413. So a body up to twice the
        limit is read to its end first (like a web server's lingering close); a larger one is
        answered at once, and its client may see the connection reset instead.
        """
        while size <= 2 * self.max_request_bytes:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return
            size += len(message.get("body", b""))

    def _too_large(self) -> str:
        return (
            f"the request body is larger than {self.max_request_bytes:,} bytes; "
            "send the customers in several requests, or score them in batch (churnmodel score)"
        )

    async def _forward(self, scope: Scope, body: bytes, payload: Any, send: Send) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        status = 0
        error_body: list[bytes] = []

        async def intercept(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status < 400:
                    await send(message)
                return
            if message["type"] == "http.response.body" and status >= 400:
                error_body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    values = request_values(payload)
                    text = safe_error_message(status, b"".join(error_body), values)
                    await _respond(send, status, _json_error(status, text))
                return
            await send(message)

        await self.app(scope, replay, intercept)


def create_app() -> ASGIApp:
    """Return the uvicorn application: MLflow's scoring app for the model, behind the guard.

    Reads the model URI from ``__churnmodel_model_uri__`` (``models:/`` URIs are looked up in
    ``MLFLOW_TRACKING_URI``), the size limit from ``__churnmodel_max_request_bytes__`` and the
    requests scored at a time from ``__churnmodel_concurrency__`` (default: no limit);
    MLflow's app reads its request timeout from ``MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT``.
    """
    from mlflow.pyfunc import scoring_server

    model = scoring_server.load_model_with_mlflow_config(os.environ[MODEL_URI_ENV])
    limit = int(os.environ.get(MAX_REQUEST_BYTES_ENV, DEFAULT_MAX_REQUEST_BYTES))
    concurrency = int(os.environ[CONCURRENCY_ENV]) if os.environ.get(CONCURRENCY_ENV) else None
    return RequestGuard(
        scoring_server.init(model), max_request_bytes=limit, concurrency=concurrency
    )
