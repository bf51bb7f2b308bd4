"""churnmodel: customer lapse risk and lifetime value from a plain transaction log.

The public surface is listed in ``__all__``; everything else is an implementation detail.
Nothing happens at import time: no logging set-up, no warning filters, no pandas options.
"""

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
    "__version__",
    "build_snapshots",
    "customer_features",
    "read_transactions",
    "rfm_summary",
]
