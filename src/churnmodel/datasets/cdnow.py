"""The CDNOW transaction log that ships inside the installed ``lifetimes`` package.

CDNOW customers who made their first purchase in the first quarter of 1997, followed to the
end of June 1998: the full cohort (23,570 customers, ``CDNOW_master.txt``) or the 1/10 sample
(2,357 customers, ``CDNOW_sample.txt``) used by Fader, Hardie and Lee (2005). Nothing is
downloaded: the files are read from lifetimes' installed data folder, found without importing
lifetimes (only ``churnmodel.models`` imports it).

In the sample file the second column is the customer's id within the sample (1..2357), the id
the published summary uses; the master file has one id column.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers" the Easy Way:
An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from churnmodel.exceptions import ChurnModelError
from churnmodel.io.transactions import LoadResult, read_transactions

__all__ = [
    "CDNOW_CALIBRATION_END",
    "CDNOW_COLUMNS",
    "CDNOW_END",
    "cdnow_path",
    "cdnow_raw",
    "lifetimes_data_folder",
    "load_cdnow",
]

#: Last day of the published calibration period (weeks 1-39).
CDNOW_CALIBRATION_END = "1997-09-30"
#: Last day of the data (week 78).
CDNOW_END = "1998-06-30"
#: How the raw CDNOW columns map onto read_transactions' arguments.
CDNOW_COLUMNS: dict[str, str] = {
    "customer_col": "customer_id",
    "date_col": "date",
    "amount_col": "dollar_value",
    "date_format": "%Y%m%d",
}


def lifetimes_data_folder() -> Path:
    """Return the data folder of the installed lifetimes package (found without importing it)."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ChurnModelError(
            "the CDNOW and donations data ship with the 'lifetimes' package, which is not "
            "installed; install churnmodel's dependencies (make setup)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def cdnow_path(sample: bool = False) -> Path:
    """Return the path of the CDNOW file inside the installed lifetimes package."""
    folder = lifetimes_data_folder()
    path = folder / ("CDNOW_sample.txt" if sample else "CDNOW_master.txt")
    if not path.exists():
        raise ChurnModelError(f"lifetimes is installed but {path} is missing; reinstall lifetimes")
    return path


def cdnow_raw(sample: bool = False) -> pd.DataFrame:
    """Return the CDNOW file as text columns, as shipped (see :data:`CDNOW_COLUMNS`)."""
    path = cdnow_path(sample)
    if sample:
        names = ["master_id", "customer_id", "date", "number_of_cds", "dollar_value"]
        raw = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str)
    else:
        raw = pd.read_csv(path, sep=r"\s+", dtype=str)
    if sample:
        raw["customer_id"] = raw["customer_id"].str.lstrip("0")
    return raw


def load_cdnow(sample: bool = False, *, with_report: bool = False) -> pd.DataFrame | LoadResult:
    """Return the CDNOW transaction log in canonical columns.

    Parameters
    ----------
    sample
        ``True`` for the 1/10 sample of the published papers (6,919 rows, 2,357 customers;
        ``customer_id`` is the sample id "1".."2357" used by the published summary), ``False``
        for the full cohort (69,659 rows, 23,570 customers; zero-padded ids kept as text).
    with_report
        Return the :class:`~churnmodel.LoadResult` (transactions and load report) instead of
        the transactions alone.

    Returns
    -------
    pandas.DataFrame or LoadResult
        ``customer_id`` (str), ``timestamp`` (day precision), ``amount`` (dollars) and
        ``order_id`` (missing: CDNOW has none, so identical lines are kept as the repeat
        orders they are in the published summary).
    """
    result = read_transactions(
        cdnow_raw(sample),
        customer_col=CDNOW_COLUMNS["customer_col"],
        date_col=CDNOW_COLUMNS["date_col"],
        amount_col=CDNOW_COLUMNS["amount_col"],
        date_format=CDNOW_COLUMNS["date_format"],
        max_quarantine_share=0.0,
    )
    return result if with_report else result.transactions
