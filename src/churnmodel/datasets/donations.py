"""The donations data that ship inside the installed ``lifetimes`` package (BG/BB).

The 1995 cohort of first-time supporters of a nonprofit organisation (11,104 donors) and
whether each donated in each of the six years 1996-2001: Fader, Hardie and Shang's (2010)
calibration data, as a recency-frequency table (one row per pattern, with its number of
donors). Nothing is downloaded; the file is read from lifetimes' data folder without importing
lifetimes (only ``churnmodel.models`` imports it).

References
----------
Fader, P. S., Hardie, B. G. S. and Shang, J. (2010), "Customer-Base Analysis in a Discrete-Time
Noncontractual Setting", Marketing Science 29(6), 1086-1108.
"""

from __future__ import annotations

import pandas as pd

from churnmodel.datasets.cdnow import lifetimes_data_folder

__all__ = ["load_donations"]


def load_donations() -> pd.DataFrame:
    """Return the donations recency-frequency table, ready for ``BetaGeoBetaBinomModel``.

    Returns
    -------
    pandas.DataFrame
        One row per (frequency, recency) pattern of the 11,104 donors: ``frequency`` (years of
        1996-2001 with a donation), ``recency`` (the last such year, 1 = 1996; 0 without
        one), ``T`` (6 opportunities; lifetimes' ``periods``) and ``weights`` (donors with the
        pattern). ``attrs["time_unit"]`` is ``"P"`` (opportunities).

    Examples
    --------
    >>> from churnmodel.models import BetaGeoBetaBinomModel
    >>> donations = load_donations()  # doctest: +SKIP
    >>> BetaGeoBetaBinomModel().fit(donations, weights="weights").params_  # doctest: +SKIP
    {'alpha': 1.204, 'beta': 0.750, 'gamma': 0.657, 'delta': 2.783}
    """
    path = lifetimes_data_folder() / "donations.csv"
    table = pd.read_csv(path).rename(columns={"periods": "T"})
    table = table[["frequency", "recency", "T", "weights"]].astype("int64")
    table.attrs["time_unit"] = "P"
    return table
