"""How training snapshots are laid out in time: the cut-offs of a training set.

Cut-offs (:meth:`TrainingDesign.cutoffs`), with ``S`` the scoring date (the first day the
model forecasts from: its window is ``(S, S + H]``), ``h`` the label horizon and ``g`` the gap:

* the latest cut-off is ``S - g - h``: its label window ends ``g`` days before ``S``;
* ``n_cutoffs - 1`` more go back in steps of ``step_days`` (default ``h``);
* ``S - 365`` and, with ``same_window_years=2`` (the default), ``S - 730``: their label
  windows are the calendar window the model will forecast, one and two years earlier, so
  that seasonal buyers are learned in the season the model serves. A year is 365 days, as
  in the season features. Each is kept when its window ends by ``S - g`` (``h <= 365``);
* a recent cut-off within a quarter of a step of a same-window one is dropped (with
  ``H = 184`` the second recent cut-off, ``S - 368``, would hold nearly the same snapshot as
  ``S - 365``);
* cut-offs with fewer than ``min_history_days`` of log before them are dropped (a purchase
  model fitted on a few weeks of history is degenerate).

Every label window therefore ends on or before ``S - g``: no training label overlaps the
forecast window ``(S, S + H]``. The latest cut-off is the **calibration** cut-off: the
classifier is fitted on the earlier ones and calibrated on it, a time-separated fold. The
same-window cut-off ``S - 365`` (``TrainingCutoffs.same_window``) then sets the level of the
calibrated probabilities for the served window: the lapse rate of a calendar window depends on
the season (the seasonal buyers of a retailer buy in its second half), and the latest fold is
another season (``LapseClassifier(level_cutoff=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from churnmodel.exceptions import ConfigError
from churnmodel.features.customer import to_date

__all__ = ["TrainingCutoffs", "TrainingDesign"]


def _positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or int(value) < (0 if allow_zero else 1):  # type: ignore[call-overload]
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name!r} must be an integer {bound}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


# ------------------------------------------------------------------------------ cut-offs
@dataclass(frozen=True)
class TrainingCutoffs:
    """Cut-offs of a training set.

    Attributes
    ----------
    fit
        Cut-offs whose snapshots fit the supervised models, oldest first.
    calibration
        The latest cut-off; its snapshot calibrates the classifier (a time-separated fold).
    same_window
        The cut-off a year before the scoring date when it is kept (its label window is the
        served window one year earlier), else None.
    label_horizon_days
        Length of every label window.
    label_end
        The last day any label window reaches (``scoring_date - gap_days`` at most).
    """

    fit: tuple[date, ...]
    calibration: date
    label_horizon_days: int
    label_end: date
    same_window: date | None = None

    @property
    def all(self) -> tuple[date, ...]:
        """Every cut-off, oldest first (the calibration cut-off last)."""
        return (*self.fit, self.calibration)


@dataclass(frozen=True)
class TrainingDesign:
    """How training snapshots are laid out in time (module docstring).

    Attributes
    ----------
    horizon_days
        ``H``: the horizon of the scores (P(no purchase in the next ``H`` days), spend in the
        next ``H`` days).
    label_horizon_days
        ``h``: the label window of the training snapshots; default ``H``. Set it shorter when
        the log before the scoring date is too short for ``H``-day windows.
    n_cutoffs
        Number of recent cut-offs (at least 2).
    step_days
        Days between recent cut-offs; default ``h`` (label windows do not overlap).
    same_window_years
        Add the cut-offs ``S - 365 k`` for ``k = 1 .. same_window_years`` (0: none), whose
        label windows are the forecast window's calendar window ``k`` years earlier.
    gap_days
        Days between the end of the latest label window and the scoring date.
    min_history_days
        Drop cut-offs with fewer days of log before them.
    fit_to_history
        When the ``n_cutoffs`` recent cut-offs do not all have ``min_history_days`` of log
        before them, shorten ``h`` (never lengthen it) to the longest label window for which
        they do (:meth:`longest_label_horizon`), instead of dropping cut-offs.
    """

    horizon_days: int
    label_horizon_days: int | None = None
    n_cutoffs: int = 3
    step_days: int | None = None
    same_window_years: int = 2
    gap_days: int = 0
    min_history_days: int = 90
    fit_to_history: bool = False

    def validate(self) -> None:
        """Raise ConfigError for a setting out of range (the message shows the value)."""
        _positive_int("horizon_days", self.horizon_days)
        if self.label_horizon_days is not None:
            _positive_int("label_horizon_days", self.label_horizon_days)
            if self.label_horizon_days > self.horizon_days:
                raise ConfigError(
                    f"'label_horizon_days' must be <= horizon_days ({self.horizon_days}), "
                    f"got {self.label_horizon_days}"
                )
        if _positive_int("n_cutoffs", self.n_cutoffs) < 2:
            raise ConfigError(
                f"'n_cutoffs' must be >= 2 (one to fit, the latest to calibrate), "
                f"got {self.n_cutoffs}"
            )
        if self.step_days is not None:
            _positive_int("step_days", self.step_days)
        _positive_int("gap_days", self.gap_days, allow_zero=True)
        _positive_int("same_window_years", self.same_window_years, allow_zero=True)
        _positive_int("min_history_days", self.min_history_days, allow_zero=True)

    @property
    def label_horizon(self) -> int:
        """``h`` in days as configured (``label_horizon_days`` or ``horizon_days``)."""
        return int(self.label_horizon_days or self.horizon_days)

    def longest_label_horizon(self, scoring_date: Any, *, data_start: Any) -> int:
        """Return the longest ``h`` for which all ``n_cutoffs`` recent cut-offs have history.

        ``S - gap - (n_cutoffs - 1) * step - (data_start + min_history_days)`` in days, with
        ``step = step_days`` (required: with the default ``step = h`` the answer would depend
        on itself). Can be 0 or negative when no window fits.
        """
        if self.step_days is None:
            raise ConfigError(
                "the longest label horizon needs an explicit 'step_days' (the default step "
                "equals the label horizon)"
            )
        end = to_date(scoring_date, "scoring_date")
        floor = to_date(data_start, "data_start") + timedelta(days=self.min_history_days)
        room = (end - floor).days - self.gap_days - (self.n_cutoffs - 1) * self.step_days
        return int(room)

    def cutoffs(self, scoring_date: Any, *, data_start: Any) -> TrainingCutoffs:
        """Return the training cut-offs for ``scoring_date`` given the first day of the log.

        Raises
        ------
        ConfigError
            If fewer than two cut-offs have ``min_history_days`` of log before them; the message
            says which setting to change.
        """
        self.validate()
        end = to_date(scoring_date, "scoring_date")
        start = to_date(data_start, "data_start")
        h = self.label_horizon
        if self.fit_to_history:
            h = min(h, self.longest_label_horizon(end, data_start=start))
            if h < 1:
                raise ConfigError(
                    f"no label window fits {self.n_cutoffs} cut-offs {self.step_days} days apart "
                    f"with {self.min_history_days} days of history between the log start "
                    f"{start.isoformat()} and the scoring date {end.isoformat()}; use fewer "
                    "cut-offs, a shorter step or min_history_days, or a later scoring date"
                )
        step = self.step_days or h
        label_end = end - timedelta(days=self.gap_days)
        latest = label_end - timedelta(days=h)
        recent = {latest - timedelta(days=k * step) for k in range(self.n_cutoffs)}
        same = {
            end - timedelta(days=365 * years)
            for years in range(1, self.same_window_years + 1)
            if end - timedelta(days=365 * years) + timedelta(days=h) <= label_end
        }
        near = timedelta(days=max(1, step // 4))
        recent = {d for d in recent if all(abs(d - w) >= near for w in same)}
        floor = start + timedelta(days=self.min_history_days)
        kept = sorted(d for d in recent | same if d >= floor)
        if len(kept) < 2:
            hint = "Use a shorter label_horizon_days or step_days, or a later scoring date"
            if self.step_days is not None:
                longest = self.longest_label_horizon(end, data_start=start)
                if longest > 0:
                    hint = (
                        f"label_horizon_days <= {longest} fits (or set fit_to_history=True); "
                        "or use a shorter step_days, or a later scoring date"
                    )
            raise ConfigError(
                f"only {len(kept)} training cut-off(s) have {self.min_history_days} days of "
                f"history after the log starts on {start.isoformat()} (label horizon {h} days, "
                f"step {step} days, scoring date {end.isoformat()}); at least 2 are needed, one "
                f"to fit and the latest to calibrate. {hint}"
            )
        year_before = end - timedelta(days=365)
        return TrainingCutoffs(
            fit=tuple(kept[:-1]),
            calibration=kept[-1],
            label_horizon_days=h,
            label_end=label_end,
            same_window=year_before if year_before in kept[:-1] else None,
        )
