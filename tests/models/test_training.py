"""Training sets: cut-offs and gap, no leakage, probabilistic features fitted per cut-off."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.features import PurchaseRule, build_snapshots, customer_features
from churnmodel.features.customer import FeatureColumns
from churnmodel.models import (
    FEATURE_COLUMNS,
    PROBABILISTIC_COLUMNS,
    ProbabilisticFeatures,
    TrainingDesign,
    TrainingSet,
    build_training_set,
    customer_lifetime_value,
)
from churnmodel.models.encoding import TabularEncoder
from churnmodel.models.training import until
from churnmodel.schemas import LIFECYCLE_STAGES

CDNOW_RULE = PurchaseRule(zero_net_is_purchase=True)
SCORING = date(1997, 9, 30)
# The CDNOW design: 273-day target, label windows shortened to fit three monthly cut-offs.
CDNOW_DESIGN = TrainingDesign(horizon_days=273, n_cutoffs=3, step_days=30, fit_to_history=True)


@pytest.fixture(scope="module")
def training(cdnow_sample: pd.DataFrame) -> TrainingSet:
    return build_training_set(
        cdnow_sample,
        scoring_date=SCORING,
        design=CDNOW_DESIGN,
        time_unit="W",
        purchase=CDNOW_RULE,
    )


def test_standard_design_ends_every_label_window_before_the_scoring_date() -> None:
    design = TrainingDesign(horizon_days=90)
    cutoffs = design.cutoffs("2023-09-30", data_start="2021-01-01")
    assert cutoffs.label_horizon_days == 90
    assert cutoffs.fit == (
        date(2021, 9, 30),
        date(2022, 9, 30),
        date(2023, 1, 3),
        date(2023, 4, 3),
    )
    assert cutoffs.calibration == date(2023, 7, 2)  # the latest cut-off calibrates
    assert all(c + timedelta(days=90) <= date(2023, 9, 30) for c in cutoffs.all)
    # One and two years before the scoring date: the served window's calendar window.
    assert {date(2022, 9, 30), date(2021, 9, 30)} <= set(cutoffs.fit)


def test_the_same_window_replaces_a_recent_cut_off_next_to_it() -> None:
    design = TrainingDesign(horizon_days=184)
    cutoffs = design.cutoffs("2025-06-30", data_start="2023-01-01")
    # S - 368 (the second recent cut-off) is three days from S - 365: only the latter stays.
    assert date(2024, 6, 27) not in cutoffs.all
    assert cutoffs.same_window == date(2024, 6, 30)
    assert cutoffs.calibration == date(2024, 12, 28)  # the latest still calibrates
    assert cutoffs.all == (
        date(2023, 7, 1),
        date(2023, 12, 26),
        date(2024, 6, 30),
        date(2024, 12, 28),
    )
    short = TrainingDesign(horizon_days=90).cutoffs("2023-09-30", data_start="2023-01-01")
    assert short.same_window is None  # no year of history: no same-window cut-off


def test_gap_separates_the_last_label_from_the_scoring_date() -> None:
    cutoffs = TrainingDesign(horizon_days=90, gap_days=30).cutoffs(
        "2023-09-30", data_start="2021-01-01"
    )
    assert cutoffs.label_end == date(2023, 8, 31)
    assert max(c + timedelta(days=90) for c in cutoffs.all) == date(2023, 8, 31)


def test_short_history_shortens_the_label_window_or_says_what_fits() -> None:
    cutoffs = CDNOW_DESIGN.cutoffs(SCORING, data_start="1997-01-01")
    assert cutoffs.label_horizon_days == 122
    assert cutoffs.fit == (date(1997, 4, 1), date(1997, 5, 1))
    assert cutoffs.calibration == date(1997, 5, 31)
    assert cutoffs.calibration + timedelta(days=122) == SCORING
    strict = TrainingDesign(horizon_days=273, n_cutoffs=3, step_days=30)
    with pytest.raises(ConfigError, match="label_horizon_days <= 122 fits"):
        strict.cutoffs(SCORING, data_start="1997-01-01")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_horizon_days": 300}, "'label_horizon_days' must be <= horizon_days"),
        ({"n_cutoffs": 1}, "'n_cutoffs' must be >= 2"),
        ({"gap_days": -1}, "'gap_days' must be an integer >= 0, got -1"),
    ],
)
def test_design_settings_are_validated(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainingDesign(horizon_days=273, **kwargs).validate()


def test_training_set_layout(training: TrainingSet, cdnow_sample: pd.DataFrame) -> None:
    frame = training.frame
    assert list(frame.columns[:3]) == ["cutoff", "role", "customer_id"]
    assert set(FEATURE_COLUMNS) <= set(frame.columns)
    summary = training.summary()
    assert list(summary["role"]) == ["fit", "fit", "calibration"]
    assert (summary["label_end"] <= pd.Timestamp(SCORING)).all()
    # Every customer known at a cut-off, and only those.
    for cutoff, n in summary["n_customers"].items():
        known = customer_features(until(cdnow_sample, cutoff.date()), cutoff, purchase=CDNOW_RULE)
        assert n == len(known)
    assert len(training.features("calibration")) == summary["n_customers"].iloc[-1]
    assert set(training.lapsed().unique()) == {0, 1}
    assert not training.fit_warnings


def test_no_row_after_the_scoring_date_is_read(
    training: TrainingSet, cdnow_sample: pd.DataFrame
) -> None:
    truncated = build_training_set(
        until(cdnow_sample, SCORING),
        scoring_date=SCORING,
        design=CDNOW_DESIGN,
        time_unit="W",
        purchase=CDNOW_RULE,
    )
    pd.testing.assert_frame_equal(truncated.frame, training.frame)


def test_probabilistic_features_use_data_up_to_each_cutoff(
    training: TrainingSet, cdnow_sample: pd.DataFrame
) -> None:
    cutoff = training.cutoffs.fit[0]
    h = training.label_horizon_days
    snap = build_snapshots(
        until(cdnow_sample, cutoff),
        [cutoff],
        h,
        time_unit="W",
        purchase=CDNOW_RULE,
        require_complete=False,
    ).set_index("customer_id")
    feats = customer_features(
        until(cdnow_sample, cutoff), cutoff, time_unit="W", purchase=CDNOW_RULE
    )
    expected = ProbabilisticFeatures().fit(feats).transform(feats, h)
    rows = training.frame[training.frame["cutoff"] == pd.Timestamp(cutoff)].set_index("customer_id")
    pd.testing.assert_frame_equal(rows.loc[:, list(PROBABILISTIC_COLUMNS)], expected)
    # Labels: the label window after the cut-off (from the full log).
    full = build_snapshots(cdnow_sample, [cutoff], h, time_unit="W", purchase=CDNOW_RULE)
    full = full.set_index("customer_id")
    np.testing.assert_array_equal(rows["lapsed"], full["lapsed"])
    np.testing.assert_allclose(rows["spend_next"], full["spend_next"])
    assert len(snap) == len(rows)


def test_probabilistic_features(cdnow_sample: pd.DataFrame) -> None:
    feats = customer_features(
        until(cdnow_sample, SCORING), SCORING, time_unit="W", purchase=CDNOW_RULE
    )
    with pytest.raises(NotFittedError):
        ProbabilisticFeatures().transform(feats, 90)
    # A repeat buyer whose repeat days net to $0 is fitted around and still scored.
    repeat = feats.index[feats["frequency"] > 0][0]
    feats.loc[repeat, "monetary_value"] = 0.0
    model = ProbabilisticFeatures().fit(feats)
    out = model.transform(feats, 273)
    assert list(out.columns) == list(PROBABILISTIC_COLUMNS)
    assert np.isfinite(out.to_numpy()).all()
    assert out["prob_p_no_purchase"].between(0, 1).all()
    np.testing.assert_allclose(
        out["prob_expected_spend"], out["prob_expected_purchases"] * out["prob_spend_per_purchase"]
    )
    # Longer horizons: more purchases expected, less chance of none.
    short = model.transform(feats, 91)
    assert (out["prob_expected_purchases"] >= short["prob_expected_purchases"]).all()
    assert (out["prob_p_no_purchase"] <= short["prob_p_no_purchase"] + 1e-12).all()
    # Reusing the horizon-free columns of another horizon's output changes nothing.
    pd.testing.assert_frame_equal(model.transform(feats, 91, reuse=out), short)
    with pytest.raises(ValueError, match="same customers"):
        model.transform(feats, 91, reuse=out.iloc[1:])
    with pytest.raises(ConfigError, match="'purchase_model' must be one of"):
        ProbabilisticFeatures(purchase_model="nbd").fit(feats)


@pytest.mark.parametrize("purchase_model", ["bgnbd", "mbgnbd", "pareto"])
@pytest.mark.parametrize("time_unit", ["D", "W"])
def test_probabilistic_features_are_the_models_public_predictions(
    cdnow_sample: pd.DataFrame, purchase_model: str, time_unit: str
) -> None:
    # transform validates the summary once and calls the models' array methods: the numbers
    # must be those of the public methods and customer_lifetime_value, to the bit.
    feats = customer_features(
        until(cdnow_sample, SCORING), SCORING, time_unit=time_unit, purchase=CDNOW_RULE
    )
    settings = {"clv_horizon_days": 200.0, "clv_period_days": 30.0, "annual_discount_rate": 0.12}
    model = ProbabilisticFeatures(purchase_model=purchase_model, **settings).fit(feats)
    pm, sm = model.purchase_model_, model.spend_model_
    summary = feats.loc[:, ["frequency", "recency", "T", "monetary_value"]].copy()
    repeat = summary["frequency"] > 0
    summary["monetary_value"] = np.where(repeat, summary["monetary_value"].clip(lower=0.01), 0.0)
    horizon = 91 / (7.0 if time_unit == "W" else 1.0)
    clv = customer_lifetime_value(
        pm,
        sm,
        summary,
        horizon_days=200.0,
        period_days=30.0,
        annual_discount_rate=0.12,
        interval=None,
    )
    out = model.transform(feats, 91)
    expected = {
        "prob_p_alive": pm.probability_alive(summary),
        "prob_p_no_purchase": pm.probability_no_purchase(summary, horizon),
        "prob_expected_purchases": pm.expected_purchases(summary, horizon),
        "prob_spend_per_purchase": sm.expected_spend(summary),
        "prob_clv": clv["clv"],
    }
    for name, values in expected.items():
        np.testing.assert_array_equal(out[name].to_numpy(), values.to_numpy(), err_msg=name)
    np.testing.assert_array_equal(
        out["prob_expected_spend"].to_numpy(),
        (expected["prob_expected_purchases"] * expected["prob_spend_per_purchase"]).to_numpy(),
    )
    assert out.index.equals(feats.index)


def test_encoder_reads_columns_as_it_reads_frames() -> None:
    stages = pd.Categorical(
        ["active", None, "inactive", "active"], categories=["inactive", "active", "x"]
    )
    frame = pd.DataFrame(
        {
            "n": np.array([1, 2, 3, 4]),
            "lifecycle_stage": stages,
            "x": [0.5, np.nan, -2.0, 1e300],
            "kind": ["b", "a", "zz", None],
        }
    )
    encoder = TabularEncoder().fit(frame)
    expected = encoder.transform(frame)
    columns = {
        "n": frame["n"].to_numpy(),
        "lifecycle_stage": stages,  # a Categorical with its own category order
        "x": frame["x"].to_numpy(),
        "kind": frame["kind"].to_numpy(dtype=object),
    }
    np.testing.assert_array_equal(encoder.transform_columns(columns, 4), expected)
    # Columns taken from a frame, nullable integers with a missing value included.
    nullable = frame.assign(n=pd.array([1, None, 3, 4], dtype="Int64"))
    taken = FeatureColumns.of(nullable)
    np.testing.assert_array_equal(
        encoder.transform_columns(taken.columns, len(taken)), encoder.transform(nullable)
    )
    with pytest.raises(DataValidationError, match="no column 'x'"):
        encoder.transform_columns({k: v for k, v in columns.items() if k != "x"}, 4)
    with pytest.raises(DataValidationError, match="infinite"):
        encoder.transform_columns({**columns, "x": np.array([0.0, np.inf, 1.0, 2.0])}, 4)


def test_encoder_fixes_stage_codes_and_reads_unseen_values_as_missing() -> None:
    a = pd.DataFrame({"x": [1.0, np.nan], "lifecycle_stage": ["active", "inactive"]})
    b = pd.DataFrame({"lifecycle_stage": ["inactive", "martian"], "x": [3.0, 4.0]})
    encoder = TabularEncoder().fit(a)
    assert encoder.categories_["lifecycle_stage"] == list(LIFECYCLE_STAGES)
    out = encoder.transform(b)
    assert out[0, 1] == LIFECYCLE_STAGES.index("inactive")
    assert np.isnan(out[1, 1])
    np.testing.assert_array_equal(out[:, 0], [3.0, 4.0])
    assert encoder.categorical_mask.tolist() == [False, True]


def test_sample_keeps_each_cutoff_and_label_share(training: TrainingSet) -> None:
    assert training.sample(len(training.frame)) is training  # small enough: every row
    n = len(training.frame) // 3
    sample = training.sample(n, seed=4)
    frame, full = sample.frame, training.frame
    assert abs(len(frame) - n) <= 2 * full.groupby(["cutoff", "lapsed"]).ngroups
    assert frame.index.is_monotonic_increasing and frame.index.isin(full.index).all()
    assert not frame.index.duplicated().any()
    share = frame.groupby(["cutoff", "lapsed"]).size() / len(frame)
    expected = full.groupby(["cutoff", "lapsed"]).size() / len(full)
    np.testing.assert_allclose(share, expected, atol=2 / len(frame))
    assert sample.cutoffs == training.cutoffs
    assert training.sample(n, seed=4).frame.index.equals(frame.index)  # seeded
    assert not training.sample(n, seed=5).frame.index.equals(frame.index)


def test_training_sets_sharing_a_cache_equal_the_ones_built_alone(
    cdnow_sample: pd.DataFrame,
) -> None:
    # Two scoring dates 30 days apart share two of their three monthly cut-offs: the second
    # build computes only its new one, and both equal the training sets built without a cache.
    from churnmodel.models.training import SnapshotCache

    cache = SnapshotCache()
    design = TrainingDesign(horizon_days=60, n_cutoffs=3, step_days=30, same_window_years=0)
    kwargs = {"design": design, "time_unit": "W", "purchase": CDNOW_RULE}
    first = build_training_set(cdnow_sample, scoring_date=SCORING, cache=cache, **kwargs)
    built = set(cache)
    later = SCORING + timedelta(days=30)
    second = build_training_set(cdnow_sample, scoring_date=later, cache=cache, **kwargs)
    for cached, day in ((first, SCORING), (second, later)):
        alone = build_training_set(cdnow_sample, scoring_date=day, **kwargs)
        pd.testing.assert_frame_equal(cached.frame, alone.frame)
        assert cached.fit_warnings == alone.fit_warnings
    shared = set(first.cutoffs.all) & set(second.cutoffs.all)
    assert len(shared) == 2 and len(cache) == len(built) + len(set(second.cutoffs.all) - shared)


def test_customer_sample_keeps_each_first_month_share(cdnow_sample: pd.DataFrame) -> None:
    from churnmodel.models.training import sample_customers
    from churnmodel.schemas import CUSTOMER_ID

    assert sample_customers(cdnow_sample, None) is None
    assert sample_customers(cdnow_sample, 10_000) is None  # 2,357 customers fit
    ids = sample_customers(cdnow_sample, 800, seed=3)
    assert ids is not None and abs(len(ids) - 800) <= 3  # rounded per month
    assert ids.is_unique and ids.isin(cdnow_sample[CUSTOMER_ID]).all()
    first = cdnow_sample.groupby(CUSTOMER_ID)["timestamp"].min().dt.to_period("M")
    share = first.value_counts(normalize=True)
    drawn = first.loc[ids].value_counts(normalize=True).reindex(share.index, fill_value=0.0)
    assert (drawn - share).abs().max() < 0.01  # every cohort keeps its share
    assert sample_customers(cdnow_sample, 800, seed=3).equals(ids)
    assert not sample_customers(cdnow_sample, 800, seed=4).equals(ids)
    with pytest.raises(ConfigError, match="positive integer"):
        sample_customers(cdnow_sample, 0)


def test_probabilistic_features_fit_on_compressed_summaries_as_on_every_customer(
    cdnow_sample: pd.DataFrame,
) -> None:
    # churnmodel train --engine spark fits the purchase and spend models on two small tables.
    features = customer_features(cdnow_sample, SCORING, time_unit="W", purchase=CDNOW_RULE)
    purchases = features.groupby(["frequency", "recency", "T"]).size().rename("customers")
    kept = (features["frequency"] == 0) | (features["monetary_value"] > 0)
    spend = features[kept].groupby(["frequency", "monetary_value"]).size().rename("customers")
    assert len(purchases) < 0.5 * len(features)
    compressed = ProbabilisticFeatures().fit_summaries(
        purchases.reset_index(), spend.reset_index(), time_unit="W"
    )
    plain = ProbabilisticFeatures().fit(features)
    pd.testing.assert_frame_equal(
        compressed.transform(features, 90), plain.transform(features, 90), rtol=1e-9
    )
    assert compressed.fit_warnings_ == plain.fit_warnings_
    with pytest.raises(DataValidationError, match="no column 'customers'"):
        ProbabilisticFeatures().fit_summaries(
            purchases.reset_index(drop=False).drop(columns="customers"), spend.reset_index(),
            time_unit="W",
        )  # fmt: skip


def test_training_sets_do_not_see_the_last_bits_another_engine_adds(
    cdnow_sample: pd.DataFrame,
) -> None:
    # Another engine (Spark) adds the same amounts in another order: its float columns differ
    # in their last bits. Training sets round them away, so the trees grow the same.
    from churnmodel.models.training import SnapshotCache

    design = TrainingDesign(horizon_days=60, n_cutoffs=3, step_days=30, same_window_years=0)
    kwargs = {"design": design, "time_unit": "W", "purchase": CDNOW_RULE}
    calls: list[list[date]] = []

    def elsewhere(cutoffs: list[date], h: int, **settings: object) -> pd.DataFrame:
        calls.append(cutoffs)
        snapshots = build_snapshots(
            until(cdnow_sample, max(cutoffs) + timedelta(days=h)), cutoffs, h,
            require_complete=False, **settings,  # type: ignore[arg-type]
        )  # fmt: skip
        rng = np.random.default_rng(0)
        for column in snapshots.columns:
            # Sums and their ratios; recency and T are whole days divided by 7 on both.
            if pd.api.types.is_float_dtype(snapshots[column]) and column not in ("recency", "T"):
                values = snapshots[column].to_numpy()
                towards = np.where(rng.random(len(values)) < 0.5, -np.inf, np.inf)
                nudged = np.nextafter(values, towards)
                snapshots[column] = np.where(values == 0, values, nudged)
        return snapshots

    plain = build_training_set(cdnow_sample, scoring_date=SCORING, **kwargs)
    nudged = build_training_set(
        cdnow_sample, scoring_date=SCORING, cache=SnapshotCache(elsewhere), **kwargs
    )
    assert len(calls) == 1 and sorted(calls[0]) == sorted(plain.cutoffs.all)
    pd.testing.assert_frame_equal(nudged.frame, plain.frame, check_exact=True)
