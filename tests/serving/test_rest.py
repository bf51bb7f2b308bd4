"""The REST server: `churnmodel serve` on a free loopback port, scored like the model in-process.

Every malformed request gets a 4xx whose body holds none of the request's customer ids or
amounts (docs/reliability.md, "Serving"). One test function on purpose: starting the server
takes a while, and pytest-xdist may run the tests of one module in different workers (each
would start its own server).
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churnmodel.serving import ChurnPyfuncModel, load_model
from churnmodel.serving.asgi import DEFAULT_MAX_REQUEST_BYTES
from tests.tracking.session import AS_OF, TrainedStore, cli, free_port, running

pytestmark = pytest.mark.mlflow


def _post(
    url: str, body: bytes | dict[str, Any], content_type: str = "application/json"
) -> tuple[int, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _post_raw(port: int, head: dict[str, str], parts: list[bytes]) -> tuple[int, str]:
    """POST ``parts`` as they are (no length check), then read the answer to its end."""
    lines = ["POST /invocations HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for part in parts:
            conn.sendall(part)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    header, _, body = answer.partition(b"\r\n\r\n")
    return int(header.split()[1]), body.decode()


@pytest.fixture(scope="module")
def customers(trained: TrainedStore) -> pd.DataFrame:
    tx = pd.read_csv(trained.data, dtype={"customer_id": str})
    ids = sorted(tx["customer_id"].unique())[100:112]
    return tx[tx["customer_id"].isin(ids)].reset_index(drop=True)


def _split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


# name -> (body, content type); each body holds the customers' ids and amounts.
MALFORMED: dict[str, Any] = {
    "missing column": lambda f: {"dataframe_split": _split(f.drop(columns="amount"))},
    "bad timestamps": lambda f: {"dataframe_split": _split(f.assign(timestamp="31/12/1997 noon"))},
    "bad amounts": lambda f: {"dataframe_split": _split(f.assign(amount="twelve"))},
    "bad as_of": lambda f: {"dataframe_split": _split(f), "params": {"as_of": "last tuesday"}},
    # 1 February or 2 January? Refused, not guessed (was: 200 with no rows).
    "ambiguous as_of": lambda f: {"dataframe_split": _split(f), "params": {"as_of": "01/02/1998"}},
    "as_of not a string": lambda f: {"dataframe_split": _split(f), "params": {"as_of": 19980630}},
    "as_of a list of ids": lambda f: {
        "dataframe_split": _split(f),
        "params": {"as_of": list(f["customer_id"])},
    },
    "params not an object": lambda f: {"dataframe_split": _split(f), "params": list(f["amount"])},
    "unknown format": lambda f: {"rows": _split(f)},
    "ids as keys": lambda f: dict(zip(f["customer_id"], f["amount"], strict=True)),
    "two formats": lambda f: {
        "dataframe_split": _split(f),
        "dataframe_records": f.to_dict(orient="records"),
    },
    "JSON list": lambda f: f.to_numpy().tolist(),
    "records not objects": lambda f: {"dataframe_records": f.to_numpy().tolist()},
    "split without columns": lambda f: {"dataframe_split": {"data": f.to_numpy().tolist()}},
    "ragged rows": lambda f: {
        "dataframe_split": {
            "columns": list(f.columns),
            "data": [row[: 2 + i % 2] for i, row in enumerate(f.to_numpy().tolist())],
        }
    },
    "split of scalars": lambda f: {
        "dataframe_split": {"columns": ["amount"], "data": list(f["amount"])}
    },
    "not JSON": lambda f: (_csv(f), "application/json"),
    "truncated JSON": lambda f: (
        json.dumps({"dataframe_split": _split(f)}).encode()[:-40],
        "application/json",
    ),
    "not UTF-8": lambda f: (
        json.dumps({"dataframe_split": _split(f)}).encode() + b"\xff\xfe",
        "application/json",
    ),
    "CSV content type": lambda f: (_csv(f), "text/csv"),
    "text content type": lambda f: (
        json.dumps({"dataframe_split": _split(f)}).encode(),
        "text/plain",
    ),
    "form content type": lambda f: (_csv(f), "application/x-www-form-urlencoded"),
    "latin-1 charset": lambda f: (
        json.dumps({"dataframe_split": _split(f)}).encode(),
        "application/json; charset=latin-1",
    ),
    "parquet content type": lambda f: (f.to_parquet(), "application/vnd.apache.parquet"),
    "empty body": lambda f: (b"", "application/json"),
    "blank body": lambda f: (b"  \n ", "application/json"),
}
_TOKEN = re.compile(r"[A-Za-z0-9_.+-]+")


def _echoed(text: str, frame: pd.DataFrame) -> list[str]:
    """The customer ids and amounts of ``frame`` that appear in ``text`` (as whole tokens)."""
    tokens = {t.strip(".") for t in _TOKEN.findall(text.replace("\\n", " "))}
    sent = {str(v) for v in frame["customer_id"]} | {repr(float(v)) for v in frame["amount"]}
    sent |= {f"{float(v):g}" for v in frame["amount"]}
    return sorted(v for v in sent if v in tokens)


NUMERIC = ["p_churn", "p_alive", "expected_purchases", "expected_spend", "clv", "value_at_risk"]


def test_served_model_scores_like_in_process_and_refuses_bad_requests(
    trained: TrainedStore, customers: pd.DataFrame, tmp_path: Path
) -> None:
    import mlflow

    mlflow.set_tracking_uri(trained.tracking_uri)
    model: ChurnPyfuncModel = load_model(trained.champion_uri).model
    expected = model.predict(None, customers, params={"as_of": AS_OF})
    port = free_port()
    log = tmp_path / "server.log"
    command = cli("serve", "--model", trained.champion_uri, "--port", str(port))
    with running(command, trained.env(), f"http://127.0.0.1:{port}/ping", log):
        url = f"http://127.0.0.1:{port}/invocations"
        status, text = _post(
            url, {"dataframe_split": _split(customers), "params": {"as_of": AS_OF}}
        )
        assert status == 200, text
        got = pd.DataFrame(json.loads(text)["predictions"])
        assert list(got.columns) == list(expected.columns)
        assert list(got["customer_id"]) == list(expected["customer_id"])
        assert (pd.to_datetime(got["as_of"]) == expected["as_of"]).all()
        pd.testing.assert_frame_equal(got[NUMERIC], expected[NUMERIC], rtol=1e-12)
        assert list(got["lifecycle_stage"]) == list(expected["lifecycle_stage"])

        # One customer, records format, as_of defaults to today in the model's time zone
        # (UTC here), not to the customer's last purchase.
        one = customers[customers["customer_id"] == customers["customer_id"].iloc[0]]
        before = datetime.now(UTC).date()
        status, text = _post(url, {"dataframe_records": one.to_dict(orient="records")})
        after = datetime.now(UTC).date()
        assert status == 200, text
        (row,) = json.loads(text)["predictions"]
        assert row["as_of"][:10] in (str(before), str(after))
        assert row["horizon_days"] == 273 and row["clv_horizon_days"] == 365

        refused: dict[str, int] = {}
        for name, change in MALFORMED.items():
            made = change(customers)
            status, text = _post(url, *made) if isinstance(made, tuple) else _post(url, made)
            refused[name] = status
            assert 400 <= status < 500, f"{name}: {status} {text[:300]}"
            assert json.loads(text)["message"], name
            assert not _echoed(text, customers), f"{name} echoed {_echoed(text, customers)}"
        # The model's own messages come through: they name the column, never a row.
        status, text = _post(url, MALFORMED["missing column"](customers))
        assert "request lacks column(s) 'amount'" in json.loads(text)["message"]
        for as_of in ("01/02/1998", "13/02/1998", "1998-2-1"):
            body = {"dataframe_split": _split(customers), "params": {"as_of": as_of}}
            status, text = _post(url, body)
            assert status == 400, text
            assert "ISO 8601 date, YYYY-MM-DD" in json.loads(text)["message"], text
        assert refused["not JSON"] == refused["empty body"] == 400
        assert refused["CSV content type"] == refused["latin-1 charset"] == 415

        # Bodies over the limit (16 MiB), repeating the customers' rows: a declared length up
        # to twice the limit and a chunked body are read to the end, dropped and refused; a
        # declared length over twice the limit is refused before any of the body is read.
        body = json.dumps({"dataframe_split": _split(customers)}).encode()
        big = body * (1 + DEFAULT_MAX_REQUEST_BYTES // len(body))
        pieces = [big[i : i + 1_048_576] for i in range(0, len(big), 1_048_576)]
        head = {"Content-Type": "application/json"}
        too_large = {
            "declared length": ({**head, "Content-Length": str(len(big))}, [big]),
            "declared length over twice the limit": (
                {**head, "Content-Length": str(3 * DEFAULT_MAX_REQUEST_BYTES)},
                [],
            ),
            "chunked": (
                {**head, "Transfer-Encoding": "chunked"},
                [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"],
            ),
        }
        for name, (headers, parts) in too_large.items():
            status, text = _post_raw(port, headers, parts)
            assert status == 413 and "larger than" in text, f"{name}: {status} {text[:300]}"
            assert not _echoed(text, customers), name
        # Health checks pass through the guard; a well-formed request still scores after all that.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as response:
            assert response.status == 200
        status, text = _post(
            url, {"dataframe_split": _split(customers), "params": {"as_of": AS_OF}}
        )
        assert status == 200 and len(json.loads(text)["predictions"]) == len(expected)
    server_log = log.read_text()
    # No --host given: loopback only.
    assert f"running on http://127.0.0.1:{port} " in server_log
    assert "POST /invocations" in server_log
    for cid in customers["customer_id"].unique():
        assert f" {cid} " not in server_log and f"'{cid}'" not in server_log
