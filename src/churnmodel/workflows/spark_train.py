"""``churnmodel train --engine spark``: the training job with the log on Spark.

The log is read, validated and de-duplicated on Spark with the shared load SQL
(:func:`~churnmodel.workflows.spark_features.spark_load_log`); what the driver needs is built
there and collected:

* **the customer sample**: each customer's first timestamp (one row per customer) gives the
  same stratified sample as in process
  (:func:`~churnmodel.models.training.sample_by_first_purchase`, ``[model]
  training_customers``; every customer when they fit); the sampled customers' transactions
  come to the driver, where the evaluations score them;
* **the training snapshots** of the sampled customers at every training cut-off
  (:meth:`SparkEngine.build_snapshots`: features and labels from the same SQL);
* **the purchase and spend models' inputs** at each fitted cut-off, on every customer:
  one row per distinct (frequency, recency, T) and per distinct (frequency, monetary value)
  with its count (:meth:`SparkCustomerFeatures.purchase_summary`, ``spend_summary``), and
  the life-cycle rules' default gap.

Everything else (the classifier and spend model fits, the evaluations, MLflow logging,
registration and promotion) is :func:`churnmodel.workflows.train.train_job`'s. With every
customer in the sample, the model equals the one trained in process on the same data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from churnmodel.config import Settings
from churnmodel.exceptions import DataValidationError
from churnmodel.features import FeatureWindows, LifecycleRules, PurchaseRule
from churnmodel.io import LoadReport
from churnmodel.models import ProbabilisticFeatures
from churnmodel.models.training import sample_by_first_purchase
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP
from churnmodel.workflows.evaluate import RemoteLog
from churnmodel.workflows.spark_features import require_spark_input, spark_load_log

if TYPE_CHECKING:
    from churnmodel.features.spark import SparkEngine

__all__ = ["SparkTrainingLog", "spark_training_log"]


@dataclass(frozen=True)
class SparkTrainingLog:
    """The views of a log on Spark that training reads (a :class:`RemoteLog`'s builders).

    ``view``: every clean transaction; ``sample``: those of the sampled customers (the same
    view when every customer is sampled).
    """

    engine: SparkEngine
    view: str
    sample: str

    def snapshots(
        self,
        cutoffs: list[date],
        label_horizon_days: int,
        *,
        time_unit: str,
        purchase: PurchaseRule | None,
        rules: LifecycleRules | None,
        windows: FeatureWindows | None,
    ) -> pd.DataFrame:
        """Return the sampled customers' snapshots, as :func:`churnmodel.build_snapshots` does."""
        from churnmodel.features.spark import snapshots_to_pandas

        frame = self.engine.build_snapshots(
            self.sample,
            cutoffs,
            label_horizon_days,
            time_unit=time_unit,
            purchase=purchase,
            rules=rules,
            windows=windows,
            require_complete=False,
        )
        return snapshots_to_pandas(frame)

    def served(
        self,
        day: date,
        *,
        template: ProbabilisticFeatures,
        time_unit: str,
        purchase: PurchaseRule | None,
        windows: FeatureWindows | None,
    ) -> tuple[ProbabilisticFeatures, LifecycleRules]:
        """Fit ``template`` on every customer's compressed summaries at ``day``."""
        features = self.engine.customer_features(
            self.view, day, time_unit=time_unit, purchase=purchase, windows=windows
        )
        fitted = template.fit_summaries(
            features.purchase_summary(), features.spend_summary(), time_unit=time_unit
        )
        assert features.rules is not None  # customer_features always fixes them
        return fitted, features.rules


@contextlib.contextmanager
def spark_training_log(
    settings: Settings,
    data: str | Path | None,
    *,
    master: str | None = None,
    spark_config: Mapping[str, str] | None = None,
) -> Iterator[tuple[pd.DataFrame, LoadReport, RemoteLog]]:
    """Load ``data`` on Spark; yield the sampled customers' rows, the report and the log.

    The Spark session stays open while the block runs (training reads the log through it).
    """
    require_spark_input(data)
    from churnmodel.features.spark import SparkEngine, _quiet_pandas3, spark_session

    d = settings.data
    spark = spark_session(master, "churnmodel train", timezone=d.timezone, config=spark_config)
    with SparkEngine(spark, timezone=d.timezone) as engine:
        view, report = spark_load_log(engine, data, settings, as_of=None, quarantine=None)
        if report.first_date is None or report.last_date is None or not report.customers:
            raise DataValidationError("no usable transactions: nothing to train on")
        view = engine.register(engine.table(view), prefix="clean", cache=True)
        with _quiet_pandas3():
            firsts = engine.sql(
                f"SELECT {CUSTOMER_ID}, min({TIMESTAMP}) AS first FROM {view} "
                f"GROUP BY {CUSTOMER_ID}"
            ).toPandas()
        first = firsts.set_index(firsts[CUSTOMER_ID].astype("str"))["first"].sort_index()
        size = int(settings.model.training_customers) or None
        seed = int(settings.model.seed)
        ids = None if size is None else sample_by_first_purchase(first, size, seed=seed)
        sample = view
        if ids is not None:
            from pyspark.sql import functions as F

            chosen = spark.createDataFrame(pd.DataFrame({CUSTOMER_ID: ids.astype("str")}))
            sampled = engine.table(view).join(F.broadcast(chosen), CUSTOMER_ID, "left_semi")
            sample = engine.register(sampled, prefix="sample", cache=True)
        with _quiet_pandas3():
            rows = engine.table(sample).select(CUSTOMER_ID, TIMESTAMP, AMOUNT).toPandas()
        transactions = _canonical(rows)
        log = SparkTrainingLog(engine, view, sample)
        yield (
            transactions,
            report,
            RemoteLog(
                first=report.first_date,
                last=report.last_date,
                customers=int(report.customers),
                snapshots=log.snapshots,
                served=log.served,
            ),
        )


def _canonical(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the collected rows as the embedded loader's canonical frame (sorted)."""
    out = pd.DataFrame(
        {
            CUSTOMER_ID: rows[CUSTOMER_ID].astype("str"),
            TIMESTAMP: pd.to_datetime(rows[TIMESTAMP]).astype("datetime64[us]"),
            AMOUNT: rows[AMOUNT].astype("float64"),
        }
    )
    return out.sort_values([CUSTOMER_ID, TIMESTAMP], kind="stable").reset_index(drop=True)
