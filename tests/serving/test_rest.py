"""The REST server: `churnmodel serve` on a free loopback port, scored like the model in-process.

One test function on purpose: starting the server takes a while, and pytest-xdist may run the
tests of one module in different workers (each would start its own server).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churnmodel.serving import ChurnPyfuncModel, load_model
from tests.tracking.session import AS_OF, TrainedStore, cli, free_port, running

pytestmark = pytest.mark.mlflow


def _post(url: str, body: bytes | dict[str, Any]) -> tuple[int, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def customers(trained: TrainedStore) -> pd.DataFrame:
    tx = pd.read_csv(trained.data, dtype={"customer_id": str})
    ids = sorted(tx["customer_id"].unique())[100:112]
    return tx[tx["customer_id"].isin(ids)].reset_index(drop=True)


def _split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}


MALFORMED: dict[str, Any] = {
    "missing column": lambda f: {"dataframe_split": _split(f.drop(columns="amount"))},
    "bad timestamps": lambda f: {"dataframe_split": _split(f.assign(timestamp="31/12/1997 noon"))},
    "bad amounts": lambda f: {"dataframe_split": _split(f.assign(amount="twelve"))},
    "bad as_of": lambda f: {"dataframe_split": _split(f), "params": {"as_of": "last tuesday"}},
    "unknown format": lambda f: {"rows": _split(f)},
}
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

        # One customer, records format, as_of defaults to their last transaction date.
        one = customers[customers["customer_id"] == customers["customer_id"].iloc[0]]
        status, text = _post(url, {"dataframe_records": one.to_dict(orient="records")})
        assert status == 200, text
        (row,) = json.loads(text)["predictions"]
        assert row["as_of"].startswith(str(pd.to_datetime(one["timestamp"]).max().date()))

        for name, change in MALFORMED.items():
            status, text = _post(url, change(customers))
            assert 400 <= status < 500, f"{name}: {status} {text[:300]}"
            flat = text.replace("\\n", " ")
            for cid in customers["customer_id"].unique():
                assert f'"{cid}"' not in text and f"'{cid}'" not in text, f"{name} echoed {cid}"
                assert f" {cid} " not in flat, f"{name} echoed customer {cid}"
        status, _ = _post(url, b"this is not json")
        assert status == 400
    server_log = log.read_text()
    assert "POST /invocations" in server_log
    for cid in customers["customer_id"].unique():
        assert f" {cid} " not in server_log
