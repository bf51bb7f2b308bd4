"""churnmodel: customer lapse risk and lifetime value from a plain transaction log.

The public surface is listed in ``__all__``; everything else is an implementation detail.
Nothing happens at import time: no logging set-up, no warning filters, no pandas options.
"""

import importlib
from typing import Any

from churnmodel.exceptions import (
    ChurnModelError,
    ConfigError,
    DataValidationError,
    ModelFitError,
    NotFittedError,
)
from churnmodel.features import (
    LifecycleRules,
    PurchaseRule,
    build_snapshots,
    customer_features,
    rfm_summary,
)
from churnmodel.io.transactions import LoadReport, LoadResult, read_transactions

__version__ = "0.1.0"

# The retention plan (churnmodel.planning) loads its settings model (pydantic) on first use.
_PLANNING = ("RetentionPolicy", "plan_retention")

__all__ = [
    "ChurnModelError",
    "ConfigError",
    "DataValidationError",
    "LifecycleRules",
    "LoadReport",
    "LoadResult",
    "ModelFitError",
    "NotFittedError",
    "PurchaseRule",
    "RetentionPolicy",
    "__version__",
    "build_snapshots",
    "customer_features",
    "plan_retention",
    "read_transactions",
    "rfm_summary",
]


def __getattr__(name: str) -> Any:
    """Load the retention planning API on first use (``churnmodel.plan_retention``)."""
    if name in _PLANNING:
        # Imported by name: the root package is not a layer, and the layers that import it
        # (serving reads __version__) must not be seen to import planning.
        planning = importlib.import_module("churnmodel.planning")
        return getattr(planning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
