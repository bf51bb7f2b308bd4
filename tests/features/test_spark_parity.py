"""Spark engine parity: the same SQL, transpiled, gives the embedded engine's features.

"Equal" as in the design: counts and day differences exactly, sums and means within 1e-9
relative (Spark adds in another order), life-cycle stages and labels identical. One Spark
session (``local[2]``, bound to 127.0.0.1) serves the whole test session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnmodel.datasets import simulate
from churnmodel.features import (
    FeatureWindows,
    PurchaseRule,
    build_snapshots,
    customer_features,
    rfm_summary,
)
from churnmodel.features.queries import (
    YEAR_RADIANS_PER_DAY,
    calendar_rfm_sql,
    customer_features_sql,
    labels_sql,
    ledger_sql,
)
from churnmodel.io import connect, load_transactions
from churnmodel.io.transactions import group_rows_sql, load_counts_sql, parse_rows_sql

pytestmark = pytest.mark.spark

AS_OF = date(2023, 9, 30)


@pytest.fixture(scope="session")
def sim_log() -> pd.DataFrame:
    tx = simulate(n_customers=20_000, seed=7).transactions
    assert len(tx) >= 200_000
    # $0 orders, which the simulator never makes and the default purchase rule counts: some
    # on days of their own, some beside a purchase or a return.
    rng = np.random.default_rng(7)
    zero = tx.iloc[rng.choice(len(tx), 400, replace=False)].copy()
    zero["amount"] = 0.0
    zero["timestamp"] += pd.to_timedelta(np.where(np.arange(400) < 200, 3, 0), unit="D")
    zero["order_id"] = [f"zero-{k}" for k in range(400)]
    return pd.concat([tx, zero], ignore_index=True).sort_values("timestamp", kind="stable")


@pytest.fixture(scope="session")
def engine(spark: Any, sim_log: pd.DataFrame) -> Iterator[Any]:
    from churnmodel.features.spark import SparkEngine

    with SparkEngine(spark, timezone="UTC") as eng:
        yield eng


@pytest.fixture(scope="session")
def spark_tx(engine: Any, spark: Any, sim_log: pd.DataFrame) -> str:
    frame = spark.createDataFrame(sim_log[["customer_id", "timestamp", "amount"]])
    return str(engine.register_transactions(frame))


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Counts, days, dates, text exactly; floats within 1e-9 relative."""
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    for col in expected.columns:
        e, g = expected[col], got[col]
        if pd.api.types.is_float_dtype(e):
            np.testing.assert_allclose(
                g.to_numpy(float), e.to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=col
            )
        elif pd.api.types.is_datetime64_any_dtype(e):
            assert (g.to_numpy("datetime64[us]") == e.to_numpy("datetime64[us]")).all(), col
        elif isinstance(e.dtype, pd.CategoricalDtype):
            assert g.dtype == e.dtype, col
            assert (g.astype(str).to_numpy() == e.astype(str).to_numpy()).all(), col
        else:
            assert g.dtype == e.dtype, (col, g.dtype, e.dtype)
            assert (g.to_numpy() == e.to_numpy()).all(), col


def test_feature_sql_transpiles_without_unknown_functions() -> None:
    from churnmodel.features.spark import to_spark_sql

    sqls = [
        ledger_sql("tx"),
        customer_features_sql("ledger", AS_OF),
        customer_features_sql("ledger", AS_OF, purchase=PurchaseRule(zero_net_is_purchase=True)),
        customer_features_sql(
            "ledger", AS_OF, purchase=PurchaseRule(free_orders_are_purchases=False)
        ),
        labels_sql("ledger", AS_OF, 90),
        calendar_rfm_sql("ledger", AS_OF, "W"),
        calendar_rfm_sql("ledger", AS_OF, "M"),
    ]
    types = {"c": "VARCHAR", "t": "VARCHAR", "a": "VARCHAR", "o": "VARCHAR"}
    parsed = parse_rows_sql(
        "src",
        types,
        customer_col="c",
        date_col="t",
        amount_col="a",
        order_col="o",
        date_format=["%d/%m/%Y", "%Y%m%d"],
        decimal=",",
    )
    sqls += [group_rows_sql(parsed, dedupe="auto"), load_counts_sql("grouped", AS_OF)]
    for sql in sqls:
        spark_sql = to_spark_sql(sql)
        for duckdb_only in ("TRY_STRPTIME", "ISFINITE", "REGEXP_FULL_MATCH", "ARG_MIN", "\\1"):
            assert duckdb_only not in spark_sql.upper()
    assert "TRY_TO_TIMESTAMP(" in to_spark_sql(parsed)
    # season_concentration: the angle's factor parses to the same double on both engines.
    features = to_spark_sql(customer_features_sql("ledger", AS_OF))
    for function in ("COS(", "SIN(", "SQRT(", "POWER(", "LEAST("):
        assert function in features
    assert f"CAST('{YEAR_RADIANS_PER_DAY!r}' AS DOUBLE)" in features


def test_customer_features_equal_the_embedded_engine(
    engine: Any, spark_tx: str, sim_log: pd.DataFrame
) -> None:
    expected = customer_features(sim_log, AS_OF)
    features = engine.customer_features(spark_tx, AS_OF)
    got = features.toPandas()
    assert len(expected) > 15_000
    assert_same_table(got, expected)
    assert got.attrs == expected.attrs
    assert (got["lifecycle_stage"] == expected["lifecycle_stage"]).all()


def test_season_features_of_a_longer_forecast_window_equal_the_embedded_engine(
    engine: Any, spark_tx: str, sim_log: pd.DataFrame
) -> None:
    # The served model sets the season window to its horizon (up to a year).
    windows = FeatureWindows(season=273)
    expected = customer_features(sim_log, AS_OF, windows=windows)
    got = engine.customer_features(spark_tx, AS_OF, windows=windows).toPandas()
    assert_same_table(got, expected)
    assert (expected["season_share"] > 0).mean() > 0.3
    assert (expected["lifecycle_stage"] == "lapsed_seasonal").sum() > 100


def test_snapshots_and_labels_equal_the_embedded_engine(
    engine: Any, spark_tx: str, sim_log: pd.DataFrame
) -> None:
    cutoffs = ["2022-12-31", "2023-06-30"]
    rule = PurchaseRule(zero_net_is_purchase=True)
    expected = build_snapshots(sim_log, cutoffs, 90, time_unit="W", purchase=rule)
    frame = engine.build_snapshots(spark_tx, cutoffs, 90, time_unit="W", purchase=rule)
    from churnmodel.features.spark import snapshots_to_pandas

    # Collected as training on Spark collects them: the embedded engine's table.
    got = snapshots_to_pandas(frame)
    assert_same_table(got, expected)
    assert expected["lapsed"].any() and not expected["lapsed"].all()


def test_ledger_equals_the_embedded_engine(
    engine: Any, spark_tx: str, sim_log: pd.DataFrame
) -> None:
    from churnmodel.features import build_ledger

    expected = build_ledger(sim_log)
    got = engine.build_ledger(spark_tx).toPandas()
    assert_same_table(got.reset_index(drop=True), expected.reset_index(drop=True))


def _messy(n: int = 3_000) -> pd.DataFrame:
    """Text columns with the bad values the loader must quarantine, and exact duplicates."""
    rng = np.random.default_rng(3)
    ts = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400 * 86_400, n), "s")
    amounts = rng.gamma(2.0, 20.0, n).round(2)
    amounts[rng.random(n) < 0.05] *= -1
    df = pd.DataFrame(
        {
            "Kunde": [f"{c:05d}" for c in rng.integers(0, 300, n)],
            "Datum": [t.strftime("%d/%m/%Y %H:%M") for t in ts],
            "Betrag": [
                f"{a:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
                if a >= 0
                else f"({-a:.2f})".replace(".", ",")
                for a in amounts
            ],
            "Kanal": rng.choice(["web", "shop"], n),
        }
    )
    df = pd.concat([df, df.iloc[:40]], ignore_index=True)
    bad = {
        5: ("Kunde", "  "),
        6: ("Kunde", "null"),
        7: ("Datum", "31/02/2023 10:00"),
        8: ("Datum", None),
        9: ("Betrag", "abc"),
        10: ("Betrag", ""),
        11: ("Betrag", "1,2,3"),
    }
    for row, (col, value) in bad.items():
        df.loc[row, col] = value
    return df.astype(object).where(df.notna(), None)


@pytest.mark.parametrize(
    "dedupe",
    [
        # No order id: identical rows are kept and counted (Spark repeats grouped rows, DuckDB
        # keeps the rows as read).
        {},
        # Repeats of an order removed (Spark groups every row; DuckDB compares the rows whose
        # hashes repeat), and every input column compared.
        {"order_col": "Bestellung"},
        {"dedupe": "all"},
        # The same, the unmapped order column named like the parser's own order_id.
        {"dedupe": "all", "order_column_name": "order_id"},
    ],
)
def test_load_from_a_dataframe_matches_read_transactions(
    engine: Any, spark: Any, dedupe: dict[str, Any]
) -> None:
    raw = _messy()
    dedupe = dict(dedupe)
    name = dedupe.pop("order_column_name", "Bestellung")
    # Two lines per order; the repeated rows (the last 40) repeat their order id.
    raw.insert(3, name, [f"B{(i % 3_000) // 2}" for i in range(len(raw))])
    kw: dict[str, Any] = dict(
        customer_col="Kunde",
        date_col="Datum",
        amount_col="Betrag",
        as_of="2023-12-31",
        timezone="Europe/Berlin",
        date_format=["%Y-%m-%d", "%d/%m/%Y %H:%M"],
        decimal=",",
        max_quarantine_share=0.05,
        **dedupe,
    )
    try:
        clean, report = engine.load_transactions(spark.createDataFrame(raw), **kw)
        table, expected = load_transactions(connect(), raw, **kw)
        features = engine.customer_features(clean, "2023-12-31").toPandas()
    finally:
        engine.set_timezone("UTC")
    got_dict, exp_dict = report.to_dict(), expected.to_dict()
    got_dict.pop("source"), exp_dict.pop("source")
    assert got_dict == exp_dict
    if name != "Bestellung":  # the column's name changes nothing
        _, renamed = load_transactions(connect(), raw.rename(columns={name: "Bestellung"}), **kw)
        assert report.duplicates_removed == renamed.duplicates_removed
        assert report.identical_rows_kept == renamed.identical_rows_kept
    assert report.rows_quarantined == 7 and report.reconciles
    assert report.duplicates_removed + report.identical_rows_kept > 0
    pd.testing.assert_frame_equal(report.quarantine, expected.quarantine, check_dtype=False)
    assert_same_table(features, customer_features(table, "2023-12-31"))


def test_nanosecond_parquet_is_read_like_duckdb(engine: Any, tmp_path: Any) -> None:
    tx = simulate(n_customers=300, seed=2).transactions
    assert str(tx["timestamp"].dtype) == "datetime64[ns]"
    path = tmp_path / "ns.parquet"
    tx.to_parquet(path)  # nanosecond timestamps: Spark cannot read them natively
    # dedupe="all": duplicates are rows identical in every column, extra columns included.
    clean, report = engine.load_transactions(str(path), order_col="order_id", dedupe="all")
    table, expected = load_transactions(connect(), path, order_col="order_id", dedupe="all")
    assert report.to_dict() == expected.to_dict()
    features = engine.customer_features(clean, "2023-12-31")
    assert_same_table(features.toPandas(), customer_features(table, "2023-12-31"))
    # The RFM summary collected to fit the probabilistic models on one machine.
    rfm = features.rfm()
    expected_rfm = rfm_summary(table, "2023-12-31")
    assert_same_table(rfm, expected_rfm)
    assert rfm.attrs == expected_rfm.attrs
    # The scoring seam: a pandas function over batches of customers, run by the executors.
    from churnmodel.features.spark import map_customers

    scored = map_customers(
        features.frame,
        lambda df: df[["customer_id"]].assign(score=df["frequency"] * 0.5),
        "customer_id string, score double",
    ).toPandas()
    scored = scored.set_index("customer_id").sort_index()
    assert scored.index.tolist() == expected_rfm.index.tolist()
    assert (scored["score"].to_numpy() == expected_rfm["frequency"].to_numpy() * 0.5).all()


def test_a_missing_value_in_registered_transactions_is_an_error(engine: Any, spark: Any) -> None:
    from churnmodel.exceptions import DataValidationError

    frame = spark.createDataFrame(
        pd.DataFrame(
            {
                "customer_id": ["a", None],
                "timestamp": pd.to_datetime(["2024-01-01"] * 2),
                "amount": [1.0, 2.0],
            }
        )
    )
    with pytest.raises(DataValidationError, match="missing 'customer_id'") as info:
        engine.register_transactions(frame)
    assert info.value.rows is not None and len(info.value.rows) == 1


def test_the_spark_module_does_not_import_pyspark_until_used() -> None:
    import subprocess

    code = (
        "import sys, churnmodel.features.spark, churnmodel.workflows.spark_features, "
        "churnmodel.cli; assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
