"""The model's signature and input example: what a scoring request and its response hold.

The input columns are declared with MLflow's ``Any`` type and as optional on purpose: MLflow
would otherwise reject a request whose types or columns do not match *before* the model sees
it, with an error that repeats every row of the request. The model checks the columns and
values itself (the same rules as batch loading: ids as text, ISO 8601 timestamps with or
without offset, amounts such as ``12.5`` or ``"$1,234.50"``) and answers with a message that
names the problem without echoing customer data. The example (made up, no real
customer) shows the expected types.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP
from churnmodel.serving.pyfunc import INPUT_COLUMNS, SCORE_COLUMNS

__all__ = ["input_example", "model_signature"]

_OUTPUT_TYPES = {
    CUSTOMER_ID: "string",
    "as_of": "datetime",
    "lifecycle_stage": "string",
    "model_version": "string",
}


def model_signature() -> ModelSignature:
    """Return the signature: transactions in, scores out, ``as_of`` as a request parameter.

    ``as_of`` is optional: without it a request is scored as of today in the model's business
    time zone. The outputs are :data:`~churnmodel.serving.pyfunc.SCORE_COLUMNS`, the horizons
    (``horizon_days``, ``clv_horizon_days``) as doubles.
    """
    inputs = Schema([ColSpec(AnyType(), name, required=False) for name in INPUT_COLUMNS])
    outputs = Schema([ColSpec(_OUTPUT_TYPES.get(c, "double"), c) for c in SCORE_COLUMNS])
    params = ParamSchema([ParamSpec("as_of", "string", default=None)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def input_example(as_of: date) -> pd.DataFrame:
    """Return a small made-up request ending at ``as_of`` (no real customer's data).

    Two customers: ``C001`` with three purchases, ``C002`` with one purchase and a partial
    return. Timestamps are ISO 8601 text and ids text, as a JSON client sends them.
    """
    day = pd.Timestamp(as_of)
    rows = [
        ("C001", day - pd.Timedelta(days=120), 25.0),
        ("C001", day - pd.Timedelta(days=61), 40.5),
        ("C001", day - pd.Timedelta(days=3), 18.0),
        ("C002", day - pd.Timedelta(days=45), 60.0),
        ("C002", day - pd.Timedelta(days=44), -20.0),
    ]
    return pd.DataFrame(
        {
            CUSTOMER_ID: [r[0] for r in rows],
            TIMESTAMP: [(r[1] + pd.Timedelta(hours=10)).isoformat() for r in rows],
            AMOUNT: [r[2] for r in rows],
        }
    )
