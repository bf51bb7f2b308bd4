"""The contact log: validation, contact history, and the uplift table built from it.

A contact log has one row per customer selected for a campaign: ``customer_id``,
``contact_date``, ``action`` (one of :data:`~churnmodel.planning.policy.CONTACT_ACTIONS`) and
``control`` (True when the customer was held out at random and *not* contacted). From it and
the transaction log, :func:`uplift_table` builds one row per contact with the project's
customer features on the day before the contact, the contact history at that day, and what
the customer did in the campaign window: the training data of the uplift models.

Bad input is refused with the rows at fault (:func:`validate_contacts`): customers the
transaction log does not know, dates outside the log, unknown actions, control flags that are
not booleans. A control group that differs from its treated group in what the customers did
before the contact (a simple balance check on the features, :func:`check_balance`) is not
random: a :class:`ControlGroupWarning` names the campaign and its rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import date
from typing import Any, cast

import numpy as np
import pandas as pd

from churnmodel.dates import DATE_FORM, parse_date
from churnmodel.exceptions import ConfigError, DataValidationError
from churnmodel.features import BEHAVIOUR_COLUMNS, customer_features
from churnmodel.features.engine import TransactionsLike
from churnmodel.features.queries import FeatureWindows, PurchaseRule
from churnmodel.features.season import YEAR_DAYS, season_calendar
from churnmodel.planning.persuadable import PersuadableModel
from churnmodel.planning.policy import CONTACT_ACTIONS
from churnmodel.schemas import CUSTOMER_ID, DATE, LIFECYCLE_STAGES, RFM_COLUMNS

__all__ = [
    "CONTACT_COLUMNS",
    "DESIGN_COLUMNS",
    "ControlGroupWarning",
    "check_balance",
    "contact_history",
    "days_to_season",
    "design_matrix",
    "purchase_state",
    "uplift_table",
    "validate_contacts",
]

#: Columns of a contact log.
CONTACT_COLUMNS = (CUSTOMER_ID, "contact_date", "action", "control")

#: Columns the balance check compares between a campaign's treated and control customers.
BALANCE_COLUMNS = ("days_since_last", "n_purchase_days", "total_spend")

#: Largest standardized mean difference between treated and control of a random split
#: (about 4 standard errors at 2 x 250 customers; a real random split stays far below).
MAX_BALANCE_SMD = 0.25

_HISTORY_COLUMNS = ("contacts_recent", "days_since_contact", "days_to_season")
#: State columns of the design: the estimated P(alive) and the probability that the customer
#: is alive but buys nothing in the campaign window (a persuadable candidate).
PURCHASE_STATE_COLUMNS = ("p_alive_est", "p_persuadable")
#: Columns of :func:`design_matrix`: the customer features, the stage, the purchase-model
#: state, the contact history.
DESIGN_COLUMNS = (
    *RFM_COLUMNS,
    *BEHAVIOUR_COLUMNS,
    "stage_code",
    "season_half_width_days",
    *PURCHASE_STATE_COLUMNS,
    *_HISTORY_COLUMNS,
)


class ControlGroupWarning(UserWarning):
    """A campaign's control group does not look random (see :func:`check_balance`)."""


def _fail(message: str, rows: pd.DataFrame, column: str, hint: str) -> DataValidationError:
    shown = rows.copy()
    shown.insert(0, "row_number", shown.index + 1)
    return DataValidationError(
        f"{message}: {len(rows):,} row(s), e.g. row(s) "
        f"{', '.join(str(i + 1) for i in rows.index[:5])}",
        column=column,
        rows=shown.head(20).reset_index(drop=True),
        hint=hint,
    )


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _control_flags(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    text = values.astype("string").str.strip().str.lower()
    flags = pd.Series(pd.NA, index=values.index, dtype="boolean")
    flags[text.isin(_TRUE)] = True
    flags[text.isin(_FALSE)] = False
    return flags


def _contact_dates(values: pd.Series) -> pd.Series:
    """Return the contact dates as datetimes; text must be ISO 8601 (NaT where it is not).

    Dates typed into a CSV are read as :func:`churnmodel.dates.parse_date` reads every date a
    person gives: ``01/06/2024`` is refused rather than guessed (which day is it?).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        when = values
    else:
        parsed: dict[Any, Any] = {}
        for value in values.dropna().unique():
            try:
                parsed[value] = pd.Timestamp(parse_date(value, "contact_date"))
            except ConfigError:
                parsed[value] = pd.NaT
        when = pd.to_datetime(values.map(parsed), errors="coerce")
    if getattr(when.dtype, "tz", None) is not None:
        when = when.dt.tz_localize(None)
    return when


def validate_contacts(
    contacts: pd.DataFrame,
    *,
    customers: pd.Index | Sequence[str],
    first_date: date,
    last_date: date,
) -> pd.DataFrame:
    """Check a contact log against the transaction log; return it in canonical form.

    Parameters
    ----------
    contacts
        Columns ``customer_id``, ``contact_date``, ``action``, ``control`` (others ignored).
    customers
        The customers the transaction log knows.
    first_date, last_date
        First and last day of the transaction log: every contact must fall between them.

    Returns
    -------
    pandas.DataFrame
        The four columns (``customer_id`` str, ``contact_date`` datetime64 day, ``action``
        str, ``control`` bool), the input's row order and index; exact repeats dropped.

    Raises
    ------
    DataValidationError
        Missing columns; unparseable dates; unknown actions; control flags that are not
        booleans; customers the transaction log does not know; dates outside the log. The
        error holds the failing rows with their row numbers (1 = first data row).
    """
    missing = [c for c in CONTACT_COLUMNS if c not in contacts.columns]
    if missing:
        raise DataValidationError(
            f"the contact log lacks column(s) {missing}; it has {list(contacts.columns)}",
            column=missing[0],
            hint="a contact log has customer_id, contact_date, action and control columns",
        )
    frame = contacts.loc[:, list(CONTACT_COLUMNS)].reset_index(drop=True)
    frame[CUSTOMER_ID] = frame[CUSTOMER_ID].astype("str")
    when = _contact_dates(frame["contact_date"])
    bad = when.isna()
    if bad.any():
        raise _fail(
            f"contact dates that are not ISO 8601 dates ({DATE_FORM})",
            frame[bad],
            "contact_date",
            f"write dates as {DATE_FORM}, e.g. 2024-06-30 (01/06/2024 could be either day)",
        )
    frame["contact_date"] = when.dt.normalize()
    frame["action"] = frame["action"].astype("str")
    bad = ~frame["action"].isin(CONTACT_ACTIONS)
    if bad.any():
        raise _fail(
            f"unknown actions (known: {list(CONTACT_ACTIONS)})",
            frame[bad],
            "action",
            "map the campaign types of the log onto the plan's actions",
        )
    flags = _control_flags(frame["control"])
    bad = flags.isna()
    if bad.any():
        raise _fail(
            "control flags that are not true/false",
            frame[bad],
            "control",
            "control is true for customers held out of the campaign at random",
        )
    frame["control"] = flags.astype(bool)
    known = pd.Index(customers).astype("str")
    bad = ~frame[CUSTOMER_ID].isin(known)
    if bad.any():
        raise _fail(
            "contacts of customers the transaction log does not know",
            frame[bad],
            CUSTOMER_ID,
            "pass the transaction log the contacts come from (--data), with the same ids",
        )
    lo, hi = pd.Timestamp(first_date), pd.Timestamp(last_date)
    bad = (frame["contact_date"] < lo) | (frame["contact_date"] > hi)
    if bad.any():
        raise _fail(
            f"contact dates outside the transaction log ({lo.date()} .. {hi.date()})",
            frame[bad],
            "contact_date",
            "a contact's response is measured in the log: use contacts within its dates",
        )
    return frame.drop_duplicates()


def contact_history(
    contacts: pd.DataFrame,
    customer_ids: pd.Series | np.ndarray,
    at: pd.Series | np.ndarray,
    *,
    window_days: int,
) -> pd.DataFrame:
    """Return each (customer, day)'s contacts before that day.

    Only contacts that reached the customer count (control rows were not contacted). For
    row ``k``: ``contacts_recent``, the contacts of ``customer_ids[k]`` in
    ``[at[k] - window_days, at[k])``, and ``days_since_contact``, the days since their
    latest contact before ``at[k]`` (NaN: none).
    """
    query = pd.DataFrame(
        {
            CUSTOMER_ID: np.asarray(customer_ids).astype(str),
            "at": pd.to_datetime(np.asarray(at)).astype("datetime64[ns]"),
        }
    )
    query["k"] = np.arange(len(query))
    sent = contacts.loc[~contacts["control"], [CUSTOMER_ID, "contact_date"]]
    out = pd.DataFrame(
        {"contacts_recent": np.zeros(len(query)), "days_since_contact": np.nan}, index=query["k"]
    )
    if len(sent) and len(query):
        both = query.merge(sent, on=CUSTOMER_ID, how="inner")
        before = both[both["contact_date"] < both["at"]]
        days = (before["at"] - before["contact_date"]).dt.days
        recent = before[days <= window_days].groupby("k").size()
        out.loc[recent.index, "contacts_recent"] = recent.to_numpy(dtype=float)
        latest = days.groupby(before["k"]).min()
        out.loc[latest.index, "days_since_contact"] = latest.to_numpy(dtype=float)
    return out.reset_index(drop=True)


def days_to_season(
    seasons: pd.DataFrame, customer_ids: pd.Series | np.ndarray, at: np.ndarray
) -> np.ndarray:
    """Return the signed days from ``at`` to the nearest start of each customer's season.

    The season starts ``season_half_width_days`` before its peak (:mod:`~churnmodel.features
    .season`); the result lies in ``(-182.6, 182.6]``: negative when the season started that
    many days ago. NaN for customers without a season phase or not in ``seasons``.
    """
    info = seasons.reindex(pd.Index(np.asarray(customer_ids).astype(str)))
    phase = info["season_phase"].to_numpy(dtype=float)
    half = info["season_half_width_days"].to_numpy(dtype=float)
    day = (pd.to_datetime(np.asarray(at)).to_numpy().astype("datetime64[D]")).astype(np.int64)
    start = phase * YEAR_DAYS - half  # days after 1970-01-01, modulo one year
    diff = np.mod(start - day, YEAR_DAYS)
    return np.where(diff > YEAR_DAYS / 2, diff - YEAR_DAYS, diff)


def purchase_state(
    features: pd.DataFrame, window_days: int, persuadable: PersuadableModel | None = None
) -> pd.DataFrame:
    """Return P(alive) and P(alive, no purchase in ``window_days``) per customer.

    With a fitted :class:`~churnmodel.planning.persuadable.PersuadableModel`, its
    ``p_persuadable`` and ``1 - p_no_purchase_long``. Without one, from a purchase model:

    A contact can only add a purchase to a customer who is alive and would not buy in the
    window on their own; a purchase model fitted on ``features`` (customer features at one
    cut-off) gives that probability: ``p_persuadable = P(alive) * P(no purchase in the
    window | alive)`` = ``P(no purchase) - (1 - P(alive))``. Pareto/NBD (Schmittlein,
    Morrison and Colombo 1987), not BG/NBD: BG/NBD's P(alive) is 1 for every one-time buyer,
    which would make every one-time buyer look persuadable (on the simulated campaigns of
    ``docs/planning.md`` the rank correlation of P(alive) with the true state is 0.04 for
    BG/NBD and 0.61 for Pareto/NBD). NaN when the model cannot be fitted (too few repeat
    buyers), with a warning.
    """
    from churnmodel.exceptions import ChurnModelError
    from churnmodel.models import ProbabilisticFeatures

    if persuadable is not None:
        state = persuadable.transform(features)
        return pd.DataFrame(
            {
                "p_alive_est": 1.0 - state["p_no_purchase_long"].to_numpy(),
                "p_persuadable": state["p_persuadable"].to_numpy(),
            },
            index=features.index,
        )
    out = pd.DataFrame(index=features.index, columns=list(PURCHASE_STATE_COLUMNS), dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ProbabilisticFeatures(purchase_model="pareto").fit(features)
            prob = model.transform(features, float(window_days))
    except (ChurnModelError, ValueError) as exc:
        warnings.warn(
            f"Pareto/NBD could not be fitted at {features.attrs.get('as_of')} ({exc}); the "
            "purchase-state columns are missing there",
            UserWarning,
            stacklevel=2,
        )
        return out
    p_alive = prob["prob_p_alive"].to_numpy(dtype=float)
    p_none = prob["prob_p_no_purchase"].to_numpy(dtype=float)
    out["p_alive_est"] = p_alive
    out["p_persuadable"] = np.clip(p_none - (1.0 - p_alive), 0.0, 1.0)
    return out


def design_matrix(
    features: pd.DataFrame,
    seasons: pd.DataFrame,
    history: pd.DataFrame,
    season_days: np.ndarray,
    state: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the uplift models' inputs, :data:`DESIGN_COLUMNS`, one row per row of ``features``.

    ``features`` are customer features (:func:`~churnmodel.features.customer_features`),
    ``seasons`` the customers' :func:`~churnmodel.features.season.season_calendar` (indexed
    by ``customer_id``), ``history`` the :func:`contact_history` of the same rows,
    ``season_days`` their :func:`days_to_season` and ``state`` their
    :func:`purchase_state` (row for row; missing: NaN).
    """
    out = pd.DataFrame(index=features.index)
    for name in (*RFM_COLUMNS, *BEHAVIOUR_COLUMNS):
        out[name] = features[name].to_numpy(dtype=float)
    stages = pd.Categorical(features["lifecycle_stage"], categories=list(LIFECYCLE_STAGES))
    out["stage_code"] = stages.codes.astype(float)
    ids = features.index if CUSTOMER_ID not in features.columns else features[CUSTOMER_ID]
    out["season_half_width_days"] = (
        seasons["season_half_width_days"].reindex(pd.Index(np.asarray(ids).astype(str))).to_numpy()
    )
    for name in PURCHASE_STATE_COLUMNS:
        out[name] = np.nan if state is None else state[name].to_numpy(dtype=float)
    out["contacts_recent"] = history["contacts_recent"].to_numpy(dtype=float)
    out["days_since_contact"] = history["days_since_contact"].to_numpy(dtype=float)
    out["days_to_season"] = np.asarray(season_days, dtype=float)
    return out


def _outcomes(
    ledger: pd.DataFrame, contacts: pd.DataFrame, window_days: int, purchase: PurchaseRule
) -> pd.DataFrame:
    """Purchase days and net spend of each contact's customer in its campaign window."""
    net = ledger["net_amount"].to_numpy(dtype=float)
    bought = net > purchase.min_net_amount
    if purchase.zero_net_is_purchase:
        bought |= net == 0
    days = pd.DataFrame(
        {
            CUSTOMER_ID: ledger[CUSTOMER_ID].astype("str").to_numpy(),
            DATE: pd.to_datetime(ledger[DATE]).astype("datetime64[ns]").to_numpy(),
            "net": net,
            "bought": bought,
        }
    )
    rows = contacts[[CUSTOMER_ID, "contact_date"]].copy()
    rows["k"] = np.arange(len(rows))
    both = rows.merge(days, on=CUSTOMER_ID, how="inner")
    end = both["contact_date"] + pd.Timedelta(days=window_days)
    inside = both[(both[DATE] >= both["contact_date"]) & (both[DATE] < end)]
    purchases = inside.groupby("k")["bought"].sum()
    spend = inside.groupby("k")["net"].sum()
    out = pd.DataFrame({"purchases": np.zeros(len(rows)), "spend": np.zeros(len(rows))})
    out.loc[purchases.index, "purchases"] = purchases.to_numpy(dtype=float)
    out.loc[spend.index, "spend"] = spend.to_numpy(dtype=float)
    out["spend"] = out["spend"].clip(lower=0.0)
    out["purchased"] = (out["purchases"] > 0).astype(float)
    return out


def uplift_table(
    transactions: TransactionsLike,
    contacts: pd.DataFrame,
    *,
    window_days: int,
    history_window_days: int = 90,
    last_date: date | None = None,
    purchase: PurchaseRule | None = None,
    persuadable: PersuadableModel | None = None,
) -> pd.DataFrame:
    """Return one row per contact: features the day before it, its history, its outcome.

    Parameters
    ----------
    transactions
        Canonical transactions (the log the contacts refer to).
    contacts
        A contact log checked by :func:`validate_contacts`.
    window_days
        The campaign window: the outcome is what the customer did in
        ``[contact_date, contact_date + window_days)``.
    history_window_days
        Window of ``contacts_recent`` (the policy's ``contact_window_days``).
    last_date
        Last day of the log; contacts whose window runs past it are marked ``complete =
        False`` (their outcome is cut short). Default: the last transaction day.
    purchase
        When a customer-day counts as a purchase.
    persuadable
        A fitted :class:`~churnmodel.planning.persuadable.PersuadableModel` for the
        ``p_persuadable`` column (default: Pareto/NBD fitted at each contact day,
        :func:`purchase_state`).

    Returns
    -------
    pandas.DataFrame
        The contact log's columns, ``treated`` (1.0 when contacted, 0.0 control),
        ``purchases``, ``purchased`` (0/1), ``spend`` (net, floored at 0) in the window,
        ``complete``, ``known`` (the customer had a purchase day before the contact) and
        :data:`DESIGN_COLUMNS`. Rows of customers without a purchase day before their
        contact are dropped with a warning naming them.
    """
    from churnmodel.features import build_ledger

    rule = purchase or PurchaseRule()
    ledger = build_ledger(transactions)
    end = pd.Timestamp(last_date) if last_date is not None else pd.Timestamp(ledger[DATE].max())
    table = contacts.reset_index(drop=True).copy()
    table["treated"] = (~table["control"]).astype(float)
    outcome = _outcomes(ledger, table, window_days, rule)
    table = pd.concat([table, outcome], axis=1)
    table["complete"] = (
        table["contact_date"] + pd.Timedelta(days=window_days - 1) <= end
    ).to_numpy()
    parts = []
    for key, rows in table.groupby("contact_date", sort=True):
        day = pd.Timestamp(cast(Any, key))
        cut = (day - pd.Timedelta(days=1)).date()
        feats = customer_features(
            transactions, cut, purchase=rule, windows=FeatureWindows(season=window_days)
        )
        seasons = season_calendar(transactions, cut, purchase=rule)
        state_all = purchase_state(feats, window_days, persuadable)
        ids = rows[CUSTOMER_ID].to_numpy()
        known = pd.Index(ids).isin(feats.index)
        rows = rows.assign(known=known)
        f = feats.reindex(ids)
        f.index = rows.index
        f["lifecycle_stage"] = f["lifecycle_stage"].astype("object")
        history = contact_history(
            contacts,
            ids,
            np.full(len(rows), day.to_datetime64()),
            window_days=history_window_days,
        )
        season_days = days_to_season(
            seasons, ids, np.full(len(rows), day.to_datetime64().astype("datetime64[D]"))
        )
        f[CUSTOMER_ID] = ids
        state = state_all.reindex(ids)
        design = design_matrix(f, seasons, history, season_days, state)
        design.index = rows.index
        parts.append(pd.concat([rows, design], axis=1))
    out = pd.concat(parts).sort_index() if parts else table.assign(known=False)
    unknown = ~out["known"]
    if unknown.any():
        warnings.warn(
            f"{int(unknown.sum()):,} contact(s) of customers without a purchase before the "
            "contact date are left out, e.g. rows "
            f"{', '.join(str(i + 1) for i in out.index[unknown][:5])}",
            UserWarning,
            stacklevel=2,
        )
        out = out[~unknown]
    return out


def check_balance(table: pd.DataFrame, *, max_smd: float = MAX_BALANCE_SMD) -> pd.DataFrame:
    """Compare each campaign's treated and control customers before the contact.

    A campaign is a (``contact_date``, ``action``) pair of :func:`uplift_table`. For each
    column of :data:`BALANCE_COLUMNS` the standardized mean difference ``|mean_t - mean_c| /
    sqrt((var_t + var_c) / 2)`` is computed. A random split keeps it near 0, within about
    ``se = sqrt(1 / n_t + 1 / n_c)``; above both ``max_smd`` and ``4 se`` (which a random
    split exceeds about once in 16,000 comparisons) the control group was not drawn at
    random from the campaign's customers, and a :class:`ControlGroupWarning` names the
    campaign, the column and the rows. A campaign with fewer than 2 treated or control
    customers cannot be checked and is named too.

    Returns
    -------
    pandas.DataFrame
        One row per campaign and column: ``contact_date``, ``action``, ``column``,
        ``treated``, ``control`` (customers), ``mean_treated``, ``mean_control``, ``smd``,
        ``balanced``.
    """
    records = []
    for (key, action), rows in table.groupby(["contact_date", "action"], sort=True):
        day = pd.Timestamp(cast(Any, key))
        t = rows["treated"].to_numpy() == 1.0
        for column in BALANCE_COLUMNS:
            x = rows[column].to_numpy(dtype=float)
            xt, xc = x[t], x[~t]
            if len(xt) < 2 or len(xc) < 2:
                smd = np.nan
            else:
                pooled = np.sqrt((np.nanvar(xt, ddof=1) + np.nanvar(xc, ddof=1)) / 2.0)
                diff = abs(np.nanmean(xt) - np.nanmean(xc))
                smd = diff / pooled if pooled > 0 else (0.0 if diff == 0 else np.inf)
            records.append(
                {
                    "contact_date": day,
                    "action": action,
                    "column": column,
                    "treated": int(t.sum()),
                    "control": int((~t).sum()),
                    "mean_treated": float(np.nanmean(xt)) if len(xt) else np.nan,
                    "mean_control": float(np.nanmean(xc)) if len(xc) else np.nan,
                    "smd": float(smd),
                    "balanced": bool(
                        np.isfinite(smd)
                        and (smd <= max_smd or smd <= 4.0 * np.sqrt(1 / len(xt) + 1 / len(xc)))
                    ),
                }
            )
    report = pd.DataFrame.from_records(records)
    if len(report):
        bad = report[~report["balanced"]]
        for (key, action), rows in bad.groupby(["contact_date", "action"], sort=True):
            day = pd.Timestamp(cast(Any, key))
            campaign = table[(table["contact_date"] == day) & (table["action"] == action)]
            control_rows = campaign.index[campaign["treated"] == 0.0]
            detail = "; ".join(
                f"{r.column}: treated {r.mean_treated:.3g}, control {r.mean_control:.3g} "
                f"(standardized difference {r.smd:.2f})"
                if np.isfinite(float(cast(Any, r.smd)))
                else f"{r.column}: {r.treated} treated, {r.control} control (too few to compare)"
                for r in rows.itertuples()
            )
            warnings.warn(
                f"the control group of {action} on {day.date()} does not look "
                f"random: {detail}; its {len(control_rows):,} control rows (e.g. rows "
                f"{', '.join(str(i + 1) for i in control_rows[:5])}) are used as they are, "
                "so its uplift may be biased",
                ControlGroupWarning,
                stacklevel=2,
            )
    return report
