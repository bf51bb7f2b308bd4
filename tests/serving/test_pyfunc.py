"""The pyfunc model: requests, errors without customer rows, no training data, fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.serving import (
    SCORE_COLUMNS,
    ChurnPyfuncModel,
    ModelPayload,
    input_example,
    load_model,
    model_signature,
    save_payload,
)
from churnmodel.serving.pyfunc import REQUEST_ROWS_HINT, load_payload
from tests.tracking.session import AS_OF, TrainedStore

pytestmark = pytest.mark.mlflow


@pytest.fixture(scope="module")
def model(trained: TrainedStore) -> ChurnPyfuncModel:
    import mlflow

    mlflow.set_tracking_uri(trained.tracking_uri)
    return load_model(trained.champion_uri).model


@pytest.fixture(scope="module")
def request_frame(trained: TrainedStore) -> pd.DataFrame:
    """The transactions of 30 customers as a JSON client sends them (text timestamps)."""
    tx = pd.read_csv(trained.data, dtype={"customer_id": str})
    ids = sorted(tx["customer_id"].unique())[:30]
    return tx[tx["customer_id"].isin(ids)].reset_index(drop=True)


def test_scores_one_row_per_customer_in_documented_columns(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame
) -> None:
    out = model.predict(None, request_frame, params={"as_of": AS_OF})
    assert tuple(out.columns) == SCORE_COLUMNS
    assert sorted(out["customer_id"]) == sorted(request_frame["customer_id"].unique())
    assert (out["as_of"] == pd.Timestamp(AS_OF)).all()
    assert out["p_churn"].between(0, 1).all() and out["p_alive"].between(0, 1).all()
    assert (out["value_at_risk"] <= out["clv"] + 1e-9).all()
    assert out["model_version"].str.len().gt(0).all()
    # Every row says what it is: the horizon of p_churn, expected_purchases and
    # expected_spend (the training holdout) and of the CLV.
    assert (out["horizon_days"] == 273.0).all()
    assert (out["clv_horizon_days"] == 365.0).all()


def _fix_clock(model: ChurnPyfuncModel, monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    """Fix the pyfunc's clock (the model's own module: it may be the model's code copy)."""
    monkeypatch.setattr(sys.modules[type(model).__module__], "_utc_now", lambda: now)


def test_as_of_defaults_to_today_in_the_business_time_zone(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not the request's last purchase: a customer silent for months is scored as such.
    before = datetime.now(UTC).date()
    default = model.predict(None, request_frame)
    after = datetime.now(UTC).date()
    assert default["as_of"].iloc[0] in (pd.Timestamp(before), pd.Timestamp(after))
    assert (default["as_of"] > pd.to_datetime(request_frame["timestamp"]).max()).all()
    # 23:30 UTC on 1998-06-30 is 1998-06-30 in UTC (the model's zone) and already 1998-07-01
    # in Berlin: the default follows the business time zone.
    _fix_clock(model, monkeypatch, datetime(1998, 6, 30, 23, 30, tzinfo=UTC))
    assert model.payload is not None and model.payload.timezone == "UTC"
    default = model.predict(None, request_frame)
    assert (default["as_of"] == pd.Timestamp(AS_OF)).all()
    pd.testing.assert_frame_equal(default, model.predict(None, request_frame, {"as_of": AS_OF}))
    berlin = type(model)(replace(model.payload, timezone="Europe/Berlin"))
    assert (berlin.predict(None, request_frame)["as_of"] == pd.Timestamp("1998-07-01")).all()
    # An empty request is scored today too: no rows.
    empty = model.predict(None, request_frame.iloc[:0])
    assert empty.empty and tuple(empty.columns) == SCORE_COLUMNS


def test_as_of_cuts_later_rows(model: ChurnPyfuncModel, request_frame: pd.DataFrame) -> None:
    early = model.predict(None, request_frame, params={"as_of": "1997-03-31"})
    first_seen = (
        pd.to_datetime(request_frame["timestamp"]).groupby(request_frame["customer_id"]).min()
    )
    assert set(early["customer_id"]) == set(first_seen[first_seen <= "1997-03-31"].index)


def test_request_types_as_json_clients_send_them(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame
) -> None:
    typed = request_frame.assign(timestamp=pd.to_datetime(request_frame["timestamp"]))
    text = request_frame.assign(
        amount=[f"${a:,.2f}" for a in request_frame["amount"]], extra_column="ignored"
    )
    a = model.predict(None, typed, params={"as_of": AS_OF})
    b = model.predict(None, text, params={"as_of": AS_OF})
    pd.testing.assert_frame_equal(a, b)


def _no_rows_in(message: str, frame: pd.DataFrame) -> None:
    for value in frame["customer_id"].astype(str).unique()[:10]:
        assert f" {value} " not in f" {message} "


def test_bad_requests_raise_clear_errors_without_the_rows(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame
) -> None:
    with pytest.raises(DataValidationError, match=r"lacks column.*'amount'") as missing:
        model.predict(None, request_frame.drop(columns="amount"))
    assert missing.value.rows is None
    bad = request_frame.copy()
    bad.loc[bad.index[:3], "timestamp"] = "not a date"
    with pytest.raises(DataValidationError, match=r"3 of .* rows .* could not be used") as dirty:
        model.predict(None, bad)
    assert dirty.value.rows is None
    assert dirty.value.hint == REQUEST_ROWS_HINT  # not the batch loader's options
    assert "max_quarantine_share" not in str(dirty.value)
    assert "First failing rows" not in str(dirty.value)
    _no_rows_in(str(dirty.value), bad)
    with pytest.raises(ConfigError, match="'as_of' must be an ISO 8601 date, YYYY-MM-DD"):
        model.predict(None, request_frame, params={"as_of": "yesterday"})


def test_empty_request_with_as_of_gives_no_rows(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame
) -> None:
    out = model.predict(None, request_frame.iloc[:0], params={"as_of": AS_OF})
    assert out.empty and tuple(out.columns) == SCORE_COLUMNS


def test_customers_without_a_purchase_by_as_of_get_no_rows(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame
) -> None:
    # Returns only, or buying only after as_of: not yet a customer at as_of, so no row (the
    # documented contract), with the columns and types of a full answer.
    full = model.predict(None, request_frame, params={"as_of": AS_OF})
    later = pd.DataFrame({"customer_id": ["new-1"], "timestamp": ["2099-01-01"], "amount": [10.0]})
    returns = pd.DataFrame({"customer_id": ["ret-1"], "timestamp": [AS_OF], "amount": [-5.0]})
    for request in (later, returns):
        out = model.predict(None, request, params={"as_of": AS_OF})
        assert out.empty
        pd.testing.assert_series_equal(out.dtypes, full.dtypes)
    mixed = model.predict(None, pd.concat([request_frame, later]), params={"as_of": AS_OF})
    pd.testing.assert_frame_equal(mixed, full)


def test_signature_declares_columns_outputs_and_the_as_of_parameter() -> None:
    sig = model_signature()
    assert sig.inputs.input_names() == ["customer_id", "timestamp", "amount"]
    assert sig.outputs.input_names() == list(SCORE_COLUMNS)
    assert [p.name for p in sig.params.params] == ["as_of"]
    example = input_example(date(2024, 3, 31))
    assert set(example["customer_id"]) == {"C001", "C002"}  # made up: no customer's data
    assert pd.to_datetime(example["timestamp"]).max() < pd.Timestamp("2024-04-01")


class _Holder:
    def __init__(self, **state: object) -> None:
        self.__dict__.update(state)


def test_payload_refuses_training_data(tmp_path: Path) -> None:
    big = pd.DataFrame({"x": np.arange(5_000)})
    with pytest.raises(ConfigError, match=r"bundle\.nested\.frame is a pandas DataFrame of 5,000"):
        save_payload(ModelPayload(_Holder(nested=_Holder(frame=big))), tmp_path / "b.pkl")

    class BetaGeoFitter:  # looks like lifetimes' fitter, which keeps .data
        pass

    BetaGeoFitter.__module__ = "lifetimes.fitters.beta_geo_fitter"
    with pytest.raises(ConfigError, match="lifetimes BetaGeoFitter"):
        save_payload(ModelPayload({"models": [BetaGeoFitter()]}), tmp_path / "b.pkl")
    small = ModelPayload(_Holder(table=big.head(10), weights=np.zeros(10_000)), timezone="UTC")
    assert load_payload(save_payload(small, tmp_path / "ok.pkl")).timezone == "UTC"


def test_logged_bundle_holds_no_training_data(trained: TrainedStore) -> None:
    bundles = list(trained.folder.glob("mlartifacts/**/artifacts/bundle.pkl"))
    assert bundles, "the model artifact has no bundle.pkl"
    payload = load_payload(bundles[0])
    save_payload(payload, trained.folder / "recheck.pkl")  # runs the same check again
    assert payload.info["cutoff"] == "1997-09-30"


_FRESH = r"""
import json, sys
# Drop the editable install from the path: churnmodel must come from the model's code folder.
sys.path = [p for p in sys.path if not p.rstrip("/").endswith("/src")]
import mlflow, pandas as pd
assert "churnmodel" not in sys.modules
model = mlflow.pyfunc.load_model(sys.argv[1])
import churnmodel
frame = pd.read_json(sys.argv[2], orient="split", dtype={"customer_id": str})
out = model.predict(frame, params={"as_of": sys.argv[4]})
out.to_parquet(sys.argv[3])
print(json.dumps({"churnmodel_file": churnmodel.__file__}))
"""


def test_loads_by_alias_in_a_fresh_process_and_scores_the_same(
    trained: TrainedStore, model: ChurnPyfuncModel, request_frame: pd.DataFrame, tmp_path: Path
) -> None:
    request = tmp_path / "request.json"
    request_frame.to_json(request, orient="split", index=False)
    out = tmp_path / "scores.parquet"
    done = subprocess.run(
        [sys.executable, "-c", _FRESH, trained.champion_uri, str(request), str(out), AS_OF],
        env=trained.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    where = json.loads(done.stdout.strip().splitlines()[-1])["churnmodel_file"]
    assert "/code/churnmodel/" in where  # the package travelled with the model
    expected = model.predict(None, request_frame, params={"as_of": AS_OF})
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


def test_a_model_folder_copied_away_from_its_store_checks_loads_and_scores(
    trained: TrainedStore, model: ChurnPyfuncModel, request_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """`churnmodel serve --model FOLDER` on a machine whose tracking store never saw the model."""
    import mlflow

    from churnmodel.serving.server import check_model

    mlflow.set_tracking_uri(trained.tracking_uri)
    folder = mlflow.artifacts.download_artifacts(trained.champion_uri, dst_path=str(tmp_path))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        check_model(folder)  # reads the MLmodel file only: no lookup of the model's id
        copied = load_model(folder).model
        pd.testing.assert_frame_equal(
            copied.predict(None, request_frame, params={"as_of": AS_OF}),
            model.predict(None, request_frame, params={"as_of": AS_OF}),
        )
    finally:
        mlflow.set_tracking_uri(trained.tracking_uri)


def test_plain_requests_skip_duckdb_and_score_the_same(
    model: ChurnPyfuncModel, request_frame: pd.DataFrame
) -> None:
    """The pandas shortcut (churnmodel.io.plain + the NumPy aggregate) changes no score."""
    from churnmodel.io import connect, load_transactions
    from churnmodel.io.plain import plain_transactions

    timezone = model.payload.timezone if model.payload else "UTC"
    assert plain_transactions(request_frame, timezone=timezone) is not None
    shortcut = model.predict(None, request_frame, params={"as_of": AS_OF})
    table, _ = load_transactions(
        connect(threads=1), request_frame, timezone=timezone, max_quarantine_share=0.0
    )
    by_duckdb = model.score(table, date.fromisoformat(AS_OF))
    assert len(shortcut) == request_frame["customer_id"].nunique()
    pd.testing.assert_frame_equal(shortcut, by_duckdb, rtol=1e-12)


class _UnsortedBundle:
    """A ScoringBundle whose rows come back in no particular order, ids as a column."""

    def predict(self, transactions: pd.DataFrame, as_of: date) -> pd.DataFrame:
        ids = ["c", "a", "b", "a2"]
        return pd.DataFrame(
            {
                "customer_id": ids,
                "p_churn": [0.3, 0.1, 0.2, 0.4],
                "p_alive": 0.5,
                "expected_purchases": 1.0,
                "expected_spend": [3.0, 1.0, 2.0, 4.0],
                "clv": 10.0,
                "value_at_risk": [3.0, 1.0, 2.0, 4.0],
                "lifecycle_stage": pd.Categorical(["new", "active", "loyal", "inactive"]),
            }
        )


def test_scores_of_any_bundle_come_back_sorted_by_customer() -> None:
    model = ChurnPyfuncModel(ModelPayload(bundle=_UnsortedBundle(), model_version="v7"))
    tx = pd.DataFrame({"customer_id": ["x"], "timestamp": ["2024-01-01"], "amount": [1.0]})
    out = model.predict(None, tx, params={"as_of": "2024-01-31"})
    assert tuple(out.columns) == SCORE_COLUMNS
    assert out["customer_id"].tolist() == ["a", "a2", "b", "c"]
    assert out["p_churn"].tolist() == [0.1, 0.4, 0.2, 0.3]
    assert out["lifecycle_stage"].tolist() == ["active", "inactive", "loyal", "new"]
    assert (out["model_version"] == "v7").all()
    assert (out["as_of"] == pd.Timestamp("2024-01-31")).all()
    # A bundle that does not say its horizons: missing, unless the payload's info does.
    assert out["horizon_days"].isna().all() and out["clv_horizon_days"].isna().all()
    told = ModelPayload(
        bundle=_UnsortedBundle(), info={"horizon_days": 90, "clv_horizon_days": 365}
    )
    out = ChurnPyfuncModel(told).predict(None, tx, params={"as_of": "2024-01-31"})
    assert (out["horizon_days"] == 90.0).all() and (out["clv_horizon_days"] == 365.0).all()


def test_score_metadata_says_what_the_scores_are(model: ChurnPyfuncModel) -> None:
    meta = model.score_metadata(date(1998, 6, 30), model_uri="models:/churnmodel@champion")
    json.dumps(meta)  # plain JSON
    assert meta["as_of"] == "1998-06-30"
    assert meta["horizon_days"] == 273.0 and meta["clv_horizon_days"] == 365.0
    horizons = meta["column_horizon_days"]
    assert horizons["p_churn"] == horizons["expected_spend"] == 273.0
    assert horizons["clv"] == 365.0 and horizons["p_alive"] is None
    assert meta["model_version"] and meta["model_uri"] == "models:/churnmodel@champion"
    assert model.payload is not None
    assert meta["model_cutoff"] == str(model.payload.bundle.cutoff)
    assert meta["time_zone"] == "UTC"
    unknown = ChurnPyfuncModel(ModelPayload(bundle=_UnsortedBundle())).score_metadata(
        date(2024, 1, 31)
    )
    assert unknown["horizon_days"] is None and unknown["model_version"] is None
