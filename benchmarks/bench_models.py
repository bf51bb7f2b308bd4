"""BG/NBD and Gamma-Gamma fits and discounted CLV vs lifetimes, on simulated summaries.

Summaries are drawn by :func:`churnmodel.models.simulate_bgnbd_summary` from the CDNOW BG/NBD and
Gamma-Gamma parameters (alpha converted to days), with customer ages uniform on 30-365 whole days
and recency floored to whole days, as a summary built from dated transactions is. Cases, each
beside lifetimes' own call measured in the same run:

* ``BG/NBD fit``: ``BetaGeoModel().fit(summary)`` (identical rows compressed into weights,
  log-likelihood and covariance recomputed) vs plain ``BetaGeoFitter().fit(f, r, T)``;
* ``Gamma-Gamma fit``: ``GammaGammaModel().fit(summary)`` vs ``GammaGammaFitter().fit`` on the
  repeat buyers;
* ``CLV``: ``customer_lifetime_value`` (12 periods of 30 days, 1 % a period, no interval) vs
  ``GammaGammaFitter.customer_lifetime_value(..., time=12, discount_rate=0.01, freq="D")``, same
  parameters on both sides;
* ``CLV + 90% interval``: ours only (200 bootstrap draws), for the record;
* ``compressed fit``: BG/NBD and Pareto/NBD ``fit(summary)`` (one weighted row per distinct
  (frequency, recency, T), chosen automatically) vs the same fit with ``compress=False`` (one
  row per customer): the speed-up of compression alone, the estimates equal to 1e-9
  (``tests/models/test_compression.py``).

``setup`` (not timed) simulates the summary and imports lifetimes and churnmodel in the child, so
neither side pays the ~3 s lifetimes import inside the clock. Run alone with
``python -m benchmarks.bench_models [--quick]``.
"""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._harness import Case

PURCHASE = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}  # CDNOW, alpha in days
SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
MONTHLY_RATE = 0.01
SEED = 2024


def summary(n_customers: int) -> pd.DataFrame:
    """Simulated day-resolution RFM summary with spend; imports warmed for the timed call."""
    from churnmodel.models import simulate_bgnbd_summary
    from churnmodel.models._base import import_lifetimes

    import_lifetimes()
    warnings.simplefilter("ignore")  # lifetimes' deprecation noise is not what we measure
    ages = np.random.default_rng(SEED).integers(30, 366, n_customers)
    return simulate_bgnbd_summary(n_customers, PURCHASE, ages, seed=SEED + 1, spend_params=SPEND)


def fitted_summary(n_customers: int) -> tuple[pd.DataFrame, Any, Any]:
    """The summary and our two models fitted on it (for the interval case)."""
    from churnmodel.models import BetaGeoModel, GammaGammaModel

    frame = summary(n_customers)
    return frame, BetaGeoModel().fit(frame), GammaGammaModel().fit(frame)


# ------------------------------------------------------------------------------------- fits
def ours_bgnbd_fit(frame: pd.DataFrame) -> None:
    from churnmodel.models import BetaGeoModel

    BetaGeoModel().fit(frame)


def lifetimes_bgnbd_fit(frame: pd.DataFrame) -> None:
    from lifetimes import BetaGeoFitter

    BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["T"])


def ours_gg_fit(frame: pd.DataFrame) -> None:
    from churnmodel.models import GammaGammaModel

    GammaGammaModel().fit(frame)


def lifetimes_gg_fit(frame: pd.DataFrame) -> None:
    from lifetimes import GammaGammaFitter

    repeat = frame[frame["frequency"] > 0]
    GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])


def ours_pareto_fit(frame: pd.DataFrame) -> None:
    from churnmodel.models import ParetoNBDModel

    ParetoNBDModel().fit(frame)


def uncompressed_pareto_fit(frame: pd.DataFrame) -> None:
    from churnmodel.models import ParetoNBDModel

    ParetoNBDModel().fit(frame, compress=False)


def uncompressed_bgnbd_fit(frame: pd.DataFrame) -> None:
    from churnmodel.models import BetaGeoModel

    BetaGeoModel().fit(frame, compress=False)


# -------------------------------------------------------------------------------------- CLV
def _our_models() -> tuple[Any, Any]:
    from churnmodel.models import model_from_dict

    def build(name: str, params: dict[str, float], **extra: Any) -> Any:
        return model_from_dict(
            {
                "format": "churnmodel.models/1",
                "model": name,
                "hyperparameters": {},
                "params": params,
                "covariance": None,
                "log_likelihood": 0.0,
                "n_customers": 0,
                **extra,
            }
        )

    return build("BetaGeoModel", PURCHASE, time_unit="D"), build("GammaGammaModel", SPEND)


def ours_clv(frame: pd.DataFrame) -> pd.DataFrame:
    from churnmodel.models import customer_lifetime_value

    purchase, spend = _our_models()
    return customer_lifetime_value(
        purchase,
        spend,
        frame,
        horizon_days=360,
        period_days=30,
        annual_discount_rate=(1 + MONTHLY_RATE) ** (365 / 30) - 1,
        interval=None,
    )


def lifetimes_clv(frame: pd.DataFrame) -> pd.Series:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(PURCHASE)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(SPEND)
    return ggf.customer_lifetime_value(
        bgf,
        frame["frequency"],
        frame["recency"],
        frame["T"],
        frame["monetary_value"],
        time=12,
        discount_rate=MONTHLY_RATE,
        freq="D",
    )


def ours_clv_interval(fitted: tuple[pd.DataFrame, Any, Any]) -> None:
    from churnmodel.models import customer_lifetime_value

    frame, purchase, spend = fitted
    customer_lifetime_value(purchase, spend, frame, interval=0.9, n_draws=200, seed=0)


def cases(quick: bool) -> list[Case]:
    """Return the model benchmark cases (100k and 1M customers; 10k/100k when quick)."""
    fit_sizes = [10_000] if quick else [100_000, 1_000_000]
    clv_size = 100_000 if quick else 1_000_000
    out = []
    for n in fit_sizes:
        label = f"{n:,} customers"
        out.append(
            Case(
                name=f"BG/NBD fit ({label})",
                ours=ours_bgnbd_fit,
                reference=lifetimes_bgnbd_fit,
                reference_name="lifetimes BetaGeoFitter.fit",
                setup=functools.partial(summary, n),
                rows=n,
                target="no slower than lifetimes" if n >= 1_000_000 else "",
            )
        )
        out.append(
            Case(
                name=f"Gamma-Gamma fit ({label})",
                ours=ours_gg_fit,
                reference=lifetimes_gg_fit,
                reference_name="lifetimes GammaGammaFitter.fit",
                setup=functools.partial(summary, n),
                rows=n,
            )
        )
    compress_size = 100_000 if quick else 1_000_000
    for name, ours, plain in (
        ("BG/NBD", ours_bgnbd_fit, uncompressed_bgnbd_fit),
        ("Pareto/NBD", ours_pareto_fit, uncompressed_pareto_fit),
    ):
        out.append(
            Case(
                name=f"{name} compressed fit ({compress_size:,} customers)",
                ours=ours,
                reference=plain,
                reference_name="the same fit, compress=False",
                setup=functools.partial(summary, compress_size),
                rows=compress_size,
            )
        )
    out.append(
        Case(
            name=f"CLV 12 x 30 days ({clv_size:,} customers)",
            ours=ours_clv,
            reference=lifetimes_clv,
            reference_name="lifetimes customer_lifetime_value",
            setup=functools.partial(summary, clv_size),
            rows=clv_size,
            target=">= 20x" if clv_size >= 1_000_000 else "",
        )
    )
    out.append(
        Case(
            name=f"CLV + 90% interval, 200 draws ({clv_size:,} customers)",
            ours=ours_clv_interval,
            setup=functools.partial(fitted_summary, clv_size),
            rows=clv_size,
            extra={"note": "no lifetimes equivalent"},
        )
    )
    return out


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["--only", "bench_models", *sys.argv[1:]]))
