"""Plain helpers for the model tests (importable, unlike conftest)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from churnmodel.models import model_from_dict

# BG/NBD and Gamma-Gamma parameters of CDNOW (FHL 2005), alpha converted from weeks to days.
DAY_PARAMS = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
SPEND_PARAMS = {"p": 6.25, "q": 3.74, "v": 15.44}


def fixed_model(name: str, params: dict[str, float], **extra: Any) -> Any:
    """A 'fitted' model with given parameters (no covariance), through the persistence path."""
    return model_from_dict(
        {
            "format": "churnmodel.models/1",
            "model": name,
            "hyperparameters": {},
            "params": params,
            "covariance": None,
            "log_likelihood": 0.0,
            "n_customers": 1,
            **extra,
        }
    )


def summary_frame(
    rows: list[tuple[float, float, float]], unit: str | None = "W", **cols: Any
) -> pd.DataFrame:
    """An RFM summary from (frequency, recency, T) rows, with extra columns and a time unit."""
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T"])
    for name, values in cols.items():
        frame[name] = values
    if unit is not None:
        frame.attrs["time_unit"] = unit
    return frame
