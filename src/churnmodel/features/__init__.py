"""Customer-day ledger, RFM and behaviour features, life-cycle stages and snapshots.

Pure functions on in-memory frames; the aggregation runs on DuckDB (see ``engine``) from SQL
defined once in ``queries`` so that other engines (Spark) reuse the same definitions.
"""

from churnmodel.features.customer import (
    BEHAVIOUR_COLUMNS,
    build_ledger,
    customer_features,
    rfm_summary,
)
from churnmodel.features.engine import DuckDBEngine
from churnmodel.features.holdout import (
    HOLDOUT_COLUMNS,
    calibration_and_holdout_summary,
    daily_repeat_purchases,
    purchase_days,
)
from churnmodel.features.lifecycle import LifecycleRules, assign_lifecycle_stage
from churnmodel.features.queries import FeatureWindows, PurchaseRule
from churnmodel.features.season import season_calendar
from churnmodel.features.snapshots import LABEL_COLUMNS, build_snapshots, snapshot_cutoffs

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "HOLDOUT_COLUMNS",
    "LABEL_COLUMNS",
    "DuckDBEngine",
    "FeatureWindows",
    "LifecycleRules",
    "PurchaseRule",
    "assign_lifecycle_stage",
    "build_ledger",
    "build_snapshots",
    "calibration_and_holdout_summary",
    "customer_features",
    "daily_repeat_purchases",
    "purchase_days",
    "rfm_summary",
    "season_calendar",
    "snapshot_cutoffs",
]
