"""Uplift models: what a contact adds, learned from treated versus randomly held-out customers.

:class:`UpliftRegressor` estimates the conditional average treatment effect
``tau(x) = E[Y | x, contacted] - E[Y | x, control]`` with a meta-learner over scikit-learn's
histogram gradient boosting:

* ``method="x"`` (default), the X-learner (Künzel, Sekhon, Bickel and Yu 2019): outcome models
  ``mu_1`` on the treated and ``mu_0`` on the control customers; imputed effects
  ``D_1 = Y_1 - mu_0(X_1)`` and ``D_0 = mu_1(X_0) - Y_0``; effect models ``tau_1`` and
  ``tau_0`` fitted on them; ``tau(x) = e tau_0(x) + (1 - e) tau_1(x)`` with ``e`` the share of
  treated customers (the propensity of a random split is constant). It suits control groups
  much smaller than the treated group, the usual campaign design.
* ``method="t"``, the two-model (T-) learner: ``tau(x) = mu_1(x) - mu_0(x)``.

* ``method="scaled"`` (the default of :class:`ResponseModel`), a structural model with few
  parameters: a contact can only add a purchase to a customer who is alive and would not
  buy in the window anyway, which BG/NBD gives as ``p_persuadable`` (the design column), so
  ``uplift_purchase = beta * p_persuadable`` and ``uplift_spend = gamma * p_persuadable *
  avg_spend``, with ``beta`` and ``gamma`` estimated by difference in means between treated
  and control (``beta = (mean y_t - mean y_c) / mean p_persuadable``) in each cell of:
  seasonal customers contacted in the quarter before their season, in its first quarter,
  or off-season, and everyone else; times over-contacted (at least ``over_contact``
  contacts in the window before) or not. Cells with too few contacts take the action's
  overall estimate. Randomization makes each difference in means unbiased; pooling over a
  cell keeps the variance far below that of a per-customer model.

:class:`ResponseModel` holds one pair of uplift models per action, the incremental purchase
probability and the incremental spend within the campaign window, fitted on an
:func:`~churnmodel.planning.contacts.uplift_table`; :func:`evaluate_response` fits it on the
older campaigns and scores the latest ones (a time holdout) with Qini curves.

References
----------
Künzel, S. R., Sekhon, J. S., Bickel, P. J. and Yu, B. (2019). Metalearners for estimating
heterogeneous treatment effects using machine learning. PNAS 116(10), 4156-4165.

Radcliffe, N. J. (2007). Using control groups to target on predicted lift: building and
assessing uplift models. Direct Marketing Analytics Journal 1, 14-21.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from churnmodel.exceptions import ConfigError, DataValidationError, NotFittedError
from churnmodel.models.estimators import thread_limit
from churnmodel.planning.contacts import DESIGN_COLUMNS
from churnmodel.planning.persuadable import PersuadableModel
from churnmodel.planning.policy import CONTACT_ACTIONS

__all__ = [
    "ResponseEvaluation",
    "ResponseModel",
    "UpliftRegressor",
    "evaluate_response",
    "holdout_qini",
]


def _booster(params: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**params)


class UpliftRegressor(RegressorMixin, BaseEstimator):
    """Conditional average treatment effect of a randomized contact (module docstring).

    Parameters
    ----------
    method
        ``"x"`` (X-learner, default) or ``"t"`` (two-model learner).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Hyperparameters of every ``HistGradientBoostingRegressor`` inside (strongly
        regularised by default: effects are small against the noise of spend).
    random_state
        Seed of the boosters.
    n_threads
        OpenMP thread cap while fitting and predicting (default 1: spinning OpenMP threads
        were measured many times slower on a machine shared with other jobs; None: no cap).

    Attributes
    ----------
    n_features_in_
        Columns of ``X`` at fit.
    treated_share_
        Share of treated rows at fit (the propensity ``e``).
    models_
        The fitted boosters by name (``mu0``, ``mu1`` and, for the X-learner, ``tau0``,
        ``tau1``).
    """

    def __init__(
        self,
        *,
        method: str = "x",
        max_iter: int = 100,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.method = method
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.n_threads = n_threads

    def _params(self) -> dict[str, Any]:
        return {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "random_state": self.random_state,
        }

    def fit(self, X: Any, y: Any, treatment: Any) -> UpliftRegressor:
        """Fit on outcomes ``y`` of treated (``treatment == 1``) and control rows."""
        if self.method not in {"x", "t"}:
            raise ConfigError(f"'method' must be 'x' or 't', got {self.method!r}")
        x = np.asarray(X, dtype=float)
        target = np.asarray(y, dtype=float)
        t = np.asarray(treatment, dtype=float)
        if x.ndim != 2 or len(x) != len(target) or len(x) != len(t):
            raise DataValidationError(
                f"X ({x.shape}), y ({target.shape}) and treatment ({t.shape}) must have one "
                "row per contact"
            )
        if not np.isin(t, (0.0, 1.0)).all():
            raise DataValidationError("'treatment' must be 0 (control) or 1 (treated)")
        if not np.isfinite(target).all():
            raise DataValidationError("'y' has missing or infinite values")
        treated = t == 1.0
        if treated.sum() < 2 or (~treated).sum() < 2:
            raise DataValidationError(
                f"an uplift model needs treated and control rows, got {int(treated.sum())} "
                f"treated and {int((~treated).sum())} control"
            )
        params = self._params()
        with thread_limit(self.n_threads):
            mu0 = _booster(params).fit(x[~treated], target[~treated])
            mu1 = _booster(params).fit(x[treated], target[treated])
            models = {"mu0": mu0, "mu1": mu1}
            if self.method == "x":
                d1 = target[treated] - mu0.predict(x[treated])
                d0 = mu1.predict(x[~treated]) - target[~treated]
                models["tau1"] = _booster(params).fit(x[treated], d1)
                models["tau0"] = _booster(params).fit(x[~treated], d0)
        self.models_ = models
        self.treated_share_ = float(treated.mean())
        self.n_features_in_ = int(x.shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Return the estimated effect of a contact on the outcome for each row of ``X``."""
        if not hasattr(self, "models_"):
            raise NotFittedError("this UpliftRegressor is not fitted yet; call fit first")
        x = np.asarray(X, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataValidationError(
                f"X has {x.shape[-1] if x.ndim else 0} columns, the model was fitted on "
                f"{self.n_features_in_}"
            )
        m = self.models_
        with thread_limit(self.n_threads):
            if self.method == "t":
                return np.asarray(m["mu1"].predict(x) - m["mu0"].predict(x))
            e = self.treated_share_
            return np.asarray(e * m["tau0"].predict(x) + (1.0 - e) * m["tau1"].predict(x))


def _design(table: pd.DataFrame) -> np.ndarray:
    missing = [c for c in DESIGN_COLUMNS if c not in table.columns]
    if missing:
        raise DataValidationError(
            f"the uplift table lacks column(s) {missing}",
            column=missing[0],
            hint="build it with churnmodel.planning.uplift_table",
        )
    return table.loc[:, list(DESIGN_COLUMNS)].to_numpy(dtype=float)


#: The seasonal cells of the scaled model, by days from the contact to the season start.
_SEASON_CELLS = ("not seasonal", "run-up quarter", "first quarter of the season", "off-season")


def scaled_cells(
    design: pd.DataFrame,
    *,
    over_contact: int,
    seasonal_min_concentration: float,
    seasonal_min_span_days: float = 300.0,
) -> np.ndarray:
    """Return the cell of each row for the scaled model (module docstring), 0..7.

    ``cell % 4`` indexes :data:`_SEASON_CELLS`: a customer is seasonal when their
    ``season_concentration`` is at least ``seasonal_min_concentration``, their purchase days
    span at least ``seasonal_min_span_days`` (``recency``, in days) and ``days_to_season``
    is known (the life-cycle rule of ``lapsed_seasonal``); the run-up quarter is
    ``0 < days_to_season <= 91``, the first quarter ``-91 < days_to_season <= 0``.
    ``cell >= 4``: at least ``over_contact`` contacts in the window before
    (``contacts_recent``).
    """
    days = design["days_to_season"].to_numpy(dtype=float)
    conc = design["season_concentration"].to_numpy(dtype=float)
    span = design["recency"].to_numpy(dtype=float)
    seasonal = (
        (conc >= seasonal_min_concentration) & (span >= seasonal_min_span_days) & np.isfinite(days)
    )
    code = np.where(
        ~seasonal,
        0,
        np.where((days > 0) & (days <= 91), 1, np.where((days > -91) & (days <= 0), 2, 3)),
    )
    over = design["contacts_recent"].to_numpy(dtype=float) >= over_contact
    return code + 4 * over.astype(int)


class _ScaledUplift:
    """The scaled model of one action (module docstring): one factor per cell."""

    def __init__(
        self, *, over_contact: int, seasonal_min_concentration: float, min_cell: int
    ) -> None:
        self.over_contact = over_contact
        self.seasonal_min_concentration = seasonal_min_concentration
        self.min_cell = min_cell

    def _inputs(self, design: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = design["p_persuadable"].to_numpy(dtype=float)
        s = np.where(np.isfinite(s), s, np.nanmean(s) if np.isfinite(s).any() else 0.0)
        ov = np.nan_to_num(design["avg_spend"].to_numpy(dtype=float), nan=0.0)
        cells = scaled_cells(
            design,
            over_contact=self.over_contact,
            seasonal_min_concentration=self.seasonal_min_concentration,
        )
        return s, ov, cells

    @staticmethod
    def _factor(y: np.ndarray, t: np.ndarray, scale: np.ndarray) -> float:
        denominator = float(np.mean(scale))
        if denominator <= 0:
            return 0.0
        return float((y[t].mean() - y[~t].mean()) / denominator)

    def fit(
        self, design: pd.DataFrame, purchased: np.ndarray, spend: np.ndarray, treated: np.ndarray
    ) -> _ScaledUplift:
        s, ov, cells = self._inputs(design)
        t = treated == 1.0
        overall = (self._factor(purchased, t, s), self._factor(spend, t, s * ov))
        self.factors_: dict[int, tuple[float, float]] = {}
        self.cell_counts_: dict[int, tuple[int, int]] = {}
        for cell in range(8):
            m = cells == cell
            n_t, n_c = int((m & t).sum()), int((m & ~t).sum())
            self.cell_counts_[cell] = (n_t, n_c)
            if n_t >= self.min_cell and n_c >= max(self.min_cell // 4, 2):
                self.factors_[cell] = (
                    self._factor(purchased[m], t[m], s[m]),
                    self._factor(spend[m], t[m], s[m] * ov[m]),
                )
            else:
                self.factors_[cell] = overall
        return self

    def predict(self, design: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        s, ov, cells = self._inputs(design)
        beta = np.array([self.factors_[c][0] for c in cells])
        gamma = np.array([self.factors_[c][1] for c in cells])
        return beta * s, gamma * s * ov

    def table(self, action: str) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "action": action,
                    "season_cell": _SEASON_CELLS[c % 4],
                    "over_contacted": c >= 4,
                    "treated": self.cell_counts_[c][0],
                    "control": self.cell_counts_[c][1],
                    "beta_purchase": self.factors_[c][0],
                    "gamma_spend": self.factors_[c][1],
                }
                for c in range(8)
            ]
        )


class ResponseModel:
    """Per-action uplift models of the incremental purchase probability and spend.

    Parameters
    ----------
    min_treated, min_control
        Least treated and control contacts of an action for its models; actions with fewer
        are left out (the plan falls back to the policy's assumed response for them).
    method
        ``"scaled"`` (default), ``"x"`` or ``"t"`` (module docstring).
    over_contact, seasonal_min_concentration, min_cell
        The scaled model's cells: contacts in the window before that count as
        over-contact (the policy's ``max_contacts``), the concentration of a seasonal
        customer, and the least treated contacts of a cell with a factor of its own.
    random_state, **params
        :class:`UpliftRegressor` settings (methods ``"x"`` and ``"t"``).

    Attributes
    ----------
    actions_
        The actions with fitted models.
    counts_
        Treated and control contacts per action used at fit (and those left out).
    """

    def __init__(
        self,
        *,
        min_treated: int = 200,
        min_control: int = 50,
        method: str = "scaled",
        over_contact: int = 2,
        seasonal_min_concentration: float = 0.9,
        min_cell: int = 200,
        random_state: int | None = 0,
        **params: Any,
    ) -> None:
        self.min_treated = min_treated
        self.min_control = min_control
        self.method = method
        self.over_contact = over_contact
        self.seasonal_min_concentration = seasonal_min_concentration
        self.min_cell = min_cell
        self.random_state = random_state
        self.params = params

    def fit(
        self, table: pd.DataFrame, *, persuadable: PersuadableModel | None = None
    ) -> ResponseModel:
        """Fit on an :func:`~churnmodel.planning.uplift_table` (its complete rows).

        ``persuadable``: the model that gave the table's ``p_persuadable`` column, kept as
        ``persuadable_`` so that a plan computes the column the same way.
        """
        self.persuadable_ = persuadable
        if self.method not in {"scaled", "x", "t"}:
            raise ConfigError(f"'method' must be 'scaled', 'x' or 't', got {self.method!r}")
        rows = table[table["complete"].astype(bool)] if "complete" in table else table
        self.models_: dict[str, Any] = {}
        self.counts_: dict[str, dict[str, int]] = {}
        for action in CONTACT_ACTIONS:
            part = rows[rows["action"] == action]
            t = part["treated"].to_numpy(dtype=float)
            n_t, n_c = int((t == 1).sum()), int((t == 0).sum())
            fitted = n_t >= self.min_treated and n_c >= self.min_control
            self.counts_[action] = {"treated": n_t, "control": n_c, "fitted": int(fitted)}
            if not fitted:
                continue
            if self.method == "scaled":
                self.models_[action] = _ScaledUplift(
                    over_contact=self.over_contact,
                    seasonal_min_concentration=self.seasonal_min_concentration,
                    min_cell=self.min_cell,
                ).fit(
                    part,
                    part["purchased"].to_numpy(dtype=float),
                    part["spend"].to_numpy(dtype=float),
                    t,
                )
                continue
            x = _design(part)
            self.models_[action] = {
                outcome: UpliftRegressor(
                    method=self.method, random_state=self.random_state, **self.params
                ).fit(x, part[outcome].to_numpy(dtype=float), t)
                for outcome in ("purchased", "spend")
            }
        self.actions_ = tuple(self.models_)
        return self

    def predict(self, action: str, design: pd.DataFrame) -> pd.DataFrame:
        """Return ``uplift_purchase`` and ``uplift_spend`` of ``action`` for each row.

        ``design`` holds :data:`~churnmodel.planning.contacts.DESIGN_COLUMNS`; an action
        without a model raises ``KeyError``.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("this ResponseModel is not fitted yet; call fit first")
        models = self.models_[action]
        if isinstance(models, _ScaledUplift):
            purchase, spend = models.predict(design)
            return pd.DataFrame(
                {"uplift_purchase": purchase, "uplift_spend": spend}, index=design.index
            )
        x = _design(design)
        return pd.DataFrame(
            {
                "uplift_purchase": models["purchased"].predict(x),
                "uplift_spend": models["spend"].predict(x),
            },
            index=design.index,
        )

    def factors(self) -> pd.DataFrame:
        """Return the scaled model's factors by action and cell (empty for other methods)."""
        parts = [m.table(a) for a, m in self.models_.items() if isinstance(m, _ScaledUplift)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@dataclass(frozen=True)
class ResponseEvaluation:
    """Uplift models fitted on older campaigns and scored on the latest ones.

    Attributes
    ----------
    holdout_start
        First contact day of the holdout; the models saw only contacts whose campaign
        window ended before it.
    train_rows, holdout_rows
        Contacts used to fit and to evaluate.
    predictions
        The holdout rows (``customer_id``, ``contact_date``, ``action``, ``treated``,
        ``purchased``, ``spend``) with ``uplift_purchase`` and ``uplift_spend`` of their own
        action (NaN when the action had no model).
    model
        The :class:`ResponseModel` fitted on the training rows.
    """

    holdout_start: pd.Timestamp
    train_rows: int
    holdout_rows: int
    predictions: pd.DataFrame
    model: ResponseModel


def holdout_start(table: pd.DataFrame, share: float) -> pd.Timestamp:
    """Return the first day of the latest campaigns that hold at least ``share`` of contacts."""
    days = table["contact_date"].value_counts().sort_index(ascending=False)
    cumulative = days.cumsum() / days.sum()
    reached = cumulative[cumulative >= share]
    return pd.Timestamp(reached.index[0] if len(reached) else days.index[-1])


def evaluate_response(
    table: pd.DataFrame,
    *,
    window_days: int,
    holdout_share: float = 0.25,
    persuadable: PersuadableModel | None = None,
    **model_params: Any,
) -> ResponseEvaluation:
    """Fit a :class:`ResponseModel` on the older campaigns, predict the latest (time holdout).

    The holdout is the latest contact days holding at least ``holdout_share`` of the
    complete contacts; the models are fitted on the contacts whose window of
    ``window_days`` ended before the holdout's first day, so no outcome they learn from
    overlaps it.

    Raises
    ------
    DataValidationError
        If no older contacts are left to fit on.
    """
    rows = table[table["complete"].astype(bool)]
    if rows.empty:
        raise DataValidationError(
            "no contact has a complete campaign window in the log",
            hint="the log must run at least campaign_window_days past the contacts",
        )
    start = holdout_start(rows, holdout_share)
    train = rows[rows["contact_date"] + pd.Timedelta(days=window_days) <= start]
    test = rows[rows["contact_date"] >= start]
    if train.empty:
        raise DataValidationError(
            f"no campaign ends before the holdout starting {start.date()}: nothing to fit on",
            hint="lower holdout_share, or give a longer contact history",
        )
    model = ResponseModel(**model_params).fit(train, persuadable=persuadable)
    predictions = test.loc[
        :, ["customer_id", "contact_date", "action", "treated", "purchased", "spend"]
    ].copy()
    predictions["uplift_purchase"] = np.nan
    predictions["uplift_spend"] = np.nan
    for action in model.actions_:
        mask = (test["action"] == action).to_numpy()
        if mask.any():
            pred = model.predict(action, test[mask])
            predictions.loc[mask, "uplift_purchase"] = pred["uplift_purchase"].to_numpy()
            predictions.loc[mask, "uplift_spend"] = pred["uplift_spend"].to_numpy()
    return ResponseEvaluation(
        holdout_start=start,
        train_rows=len(train),
        holdout_rows=len(test),
        predictions=predictions,
        model=model,
    )


def holdout_qini(
    evaluation: ResponseEvaluation, *, n_boot: int = 200, seed: int = 0
) -> dict[str, float]:
    """Return the Qini coefficients of the holdout, with bootstrap intervals.

    The holdout contacts whose action had a model are ranked by their predicted uplift
    (``uplift_spend`` for the spend outcome, ``uplift_purchase`` for the purchase outcome),
    pooled over actions; :func:`~churnmodel.evaluation.uplift.qini_interval` gives each
    coefficient and its 95 % percentile interval. Keys: ``qini_spend``,
    ``qini_spend_ci_low``, ``qini_spend_ci_high``, the same for ``qini_purchase``, and
    ``holdout_contacts``.
    """
    from churnmodel.evaluation.uplift import qini_interval

    rows = evaluation.predictions.dropna(subset=["uplift_spend"])
    out: dict[str, float] = {"holdout_contacts": float(len(rows))}
    for name, outcome, score in (
        ("qini_spend", "spend", "uplift_spend"),
        ("qini_purchase", "purchased", "uplift_purchase"),
    ):
        if rows.empty:
            out.update({name: np.nan, f"{name}_ci_low": np.nan, f"{name}_ci_high": np.nan})
            continue
        ci = qini_interval(
            rows[outcome].to_numpy(),
            rows[score].to_numpy(),
            rows["treated"].to_numpy(),
            n_boot=n_boot,
            seed=seed,
        )
        out.update({name: ci.value, f"{name}_ci_low": ci.low, f"{name}_ci_high": ci.high})
    return out
