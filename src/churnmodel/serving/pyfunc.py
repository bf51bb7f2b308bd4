"""The churnmodel pyfunc: a customer's transactions in, one row of scores per customer out.

One MLflow model bundles everything needed to score raw transactions: the fitted bundle
(BG/NBD-family purchase model, Gamma-Gamma, lapse classifier, spend model) in a pickle
artifact, and the package code (features, life-cycle rules) in ``code_paths``. The class is
loaded from code (MLflow 3's models-from-code, :mod:`churnmodel.serving._model_code`), so
nothing but the fitted bundle is unpickled.

Request (pandas DataFrame, or ``dataframe_split`` / ``dataframe_records`` JSON over REST):
``customer_id``, ``timestamp``, ``amount`` (negative = return); more columns are ignored.
Parameter ``as_of`` (ISO date): the scoring date; default **today** in the model's business
time zone (:attr:`ModelPayload.timezone`), so a customer who last bought months ago is scored
as months overdue, not as of their own last purchase. Response: :data:`SCORE_COLUMNS`, one
row per customer with a purchase on or before ``as_of``, sorted by ``customer_id``; every row
says what it is: ``as_of``, ``horizon_days`` (the horizon of ``p_churn``,
``expected_purchases`` and ``expected_spend``), ``clv_horizon_days`` and ``model_version``.

A request the model cannot use raises :class:`~churnmodel.exceptions.DataValidationError`
or :class:`~churnmodel.exceptions.ConfigError` whose message names the problem (column,
reason, counts) and never repeats the rows: the REST server puts the message into its 400
response.
"""

from __future__ import annotations

import math
import pickle
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from churnmodel.exceptions import ChurnModelError, ConfigError, DataValidationError
from churnmodel.features.customer import FeatureColumns, to_date
from churnmodel.features.engine import TransactionsLike
from churnmodel.features.small import SMALL_FRAME_ROWS
from churnmodel.io.plain import plain_transactions
from churnmodel.io.transactions import connect, load_transactions
from churnmodel.models.bundle import SCORE_COLUMNS as BUNDLE_SCORE_COLUMNS
from churnmodel.schemas import AMOUNT, CUSTOMER_ID, TIMESTAMP

__all__ = [
    "BUNDLE_ARTIFACT",
    "INPUT_COLUMNS",
    "SCORE_COLUMNS",
    "ChurnPyfuncModel",
    "ModelPayload",
    "ScoringBundle",
    "load_payload",
    "save_payload",
]

#: Columns of a scoring request.
INPUT_COLUMNS = (CUSTOMER_ID, TIMESTAMP, AMOUNT)

#: Columns of the scores, in order (docs/mlflow.md): the bundle's, after the customer id.
SCORE_COLUMNS = (CUSTOMER_ID, *BUNDLE_SCORE_COLUMNS)
_NUMERIC_SCORES = SCORE_COLUMNS[2:8]
_HORIZONS = ("horizon_days", "clv_horizon_days")
#: Which horizon each score column refers to (the score files' metadata).
COLUMN_HORIZONS: Mapping[str, str | None] = {
    "p_churn": "horizon_days",
    "p_alive": None,  # at as_of
    "expected_purchases": "horizon_days",
    "expected_spend": "horizon_days",
    "clv": "clv_horizon_days",
    "value_at_risk": "clv_horizon_days",  # clv x p_churn
    "lifecycle_stage": None,  # at as_of
}

#: Name of the pickled payload among the model's artifacts.
BUNDLE_ARTIFACT = "bundle"


class ScoringBundle(Protocol):
    """What the pyfunc needs from a fitted bundle.

    ``predict`` scores canonical transactions (a DataFrame or a DuckDB-held
    :class:`~churnmodel.io.TransactionTable`) at ``as_of``: one row per customer with a purchase
    on or before ``as_of``, index or column ``customer_id``, and at least the score columns
    ``p_churn``, ``p_alive``, ``expected_purchases``, ``expected_spend``, ``clv``,
    ``value_at_risk`` and ``lifecycle_stage``; ``horizon_days`` and ``clv_horizon_days``
    when it has them (else read from the bundle's ``horizon_days`` and
    ``probabilistic.clv_horizon_days``, or the payload's ``info``).
    """

    def predict(self, transactions: TransactionsLike, as_of: date) -> pd.DataFrame:
        """Return the scores of every customer known at ``as_of``."""
        ...


@dataclass
class ModelPayload:
    """What the model artifact pickles: the bundle and how requests are read.

    Attributes
    ----------
    bundle
        The fitted bundle (no training data: see :func:`save_payload`).
    timezone
        Business time zone of the training data; request timestamps are read in it.
    model_version
        Written into every score row: the MLflow run that trained the model.
    info
        Anything else worth keeping with the model (training cut-off, horizon ...).
    """

    bundle: Any
    timezone: str = "UTC"
    model_version: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def horizons(self) -> tuple[float, float]:
        """Return ``(horizon_days, clv_horizon_days)`` of the bundle (NaN where unknown)."""
        bundle = self.bundle
        horizon = getattr(bundle, "horizon_days", self.info.get("horizon_days"))
        probabilistic = getattr(bundle, "probabilistic", None)
        clv = getattr(probabilistic, "clv_horizon_days", self.info.get("clv_horizon_days"))
        return _number(horizon), _number(clv)

    def today(self) -> date:
        """Return today's date in the business time zone: the default ``as_of`` of a request."""
        return _utc_now().astimezone(ZoneInfo(self.timezone)).date()


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _utc_now() -> datetime:
    """Return the current time (a function of its own, so that tests can fix the clock)."""
    return datetime.now(UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: What a client can do about unusable rows (the loader's own hints name batch options).
REQUEST_ROWS_HINT = (
    "every row needs a customer_id, a timestamp in ISO 8601 (2024-03-31 or "
    "2024-03-31T12:00:00+02:00) and a numeric amount (text such as '$1,234.50' is read); "
    "a request is scored only when all its rows can be used"
)


def _reject(exc: ChurnModelError) -> ChurnModelError:
    """Return the same kind of error without failing rows (safe to send back to a client)."""
    if isinstance(exc, DataValidationError):
        # A request with quarantined rows: the loader's hint speaks of batch options
        # (max_quarantine_share, --date-format) that a client of the server cannot set.
        hint = REQUEST_ROWS_HINT if exc.rows is not None else exc.hint
        return DataValidationError(_first_line(exc), column=exc.column, hint=hint)
    return type(exc)(_first_line(exc))


class ChurnPyfuncModel(PythonModel):
    """MLflow pyfunc around a fitted bundle (see the module docstring).

    Parameters
    ----------
    payload
        The bundle and its settings, for use in-process; a logged model gets it from its
        ``bundle`` artifact in :meth:`load_context` instead.
    """

    def __init__(self, payload: ModelPayload | None = None) -> None:
        self.payload = payload
        self._db: duckdb.DuckDBPyConnection | None = None
        self._db_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["payload"])  # type: ignore[misc]

    def load_context(self, context: Any) -> None:
        """Load the pickled payload from the model's artifacts."""
        self.payload = load_payload(context.artifacts[BUNDLE_ARTIFACT])

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """Return a connection for one request, to an in-memory database opened once.

        Opening a DuckDB database costs more than scoring one customer; a cursor is cheap and
        keeps concurrent requests (the server scores them in threads) apart.
        """
        with self._db_lock:
            if self._db is None:
                self._db = connect(threads=1, timezone=self._loaded().timezone)
            return self._db.cursor()

    def _loaded(self) -> ModelPayload:
        if self.payload is None:  # pragma: no cover - MLflow always calls load_context
            raise ConfigError("the model has no bundle: it was not loaded through MLflow")
        return self.payload

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Score a request: transactions in, one row of :data:`SCORE_COLUMNS` per customer.

        ``params["as_of"]`` (ISO date) is the scoring date; without it, today in the model's
        business time zone (:meth:`ModelPayload.today`). Transactions after ``as_of`` are
        left out.
        """
        try:
            frame = _request_frame(model_input)
            _check_columns(frame)
            as_of = _as_of((params or {}).get("as_of"), self._loaded())
            if frame.empty:
                return self.score(frame.loc[:, list(INPUT_COLUMNS)], as_of)
            request = frame if tuple(frame.columns) == INPUT_COLUMNS else frame[list(INPUT_COLUMNS)]
            # A small request with nothing to quarantine is read with pandas and scored
            # without DuckDB (same values: churnmodel.io.plain); anything else is validated by
            # load_transactions, whose errors name the problem.
            plain = (
                plain_transactions(request, timezone=self._loaded().timezone)
                if len(request) <= SMALL_FRAME_ROWS
                else None
            )
            if plain is not None:
                return self.score(plain, as_of)
            con = self._cursor()
            try:
                table, _ = load_transactions(
                    con,
                    request,
                    timezone=self._loaded().timezone,
                    max_quarantine_share=0.0,
                    count_customers=False,
                )
                return self.score(table, as_of)
            finally:
                con.close()
        except ChurnModelError as exc:
            raise _reject(exc) from None

    def features(self, transactions: TransactionsLike, as_of: date) -> Any:
        """Return what :meth:`score` needs of ``transactions`` before the models run.

        The bundle's feature columns when it computes them apart from predicting
        (:meth:`churnmodel.models.ChurnBundle.feature_columns`), else the transactions
        themselves: ``score(features(t, as_of), as_of)`` is ``score(t, as_of)``. The batch job
        computes the next chunk's features with this while the models score the current one.
        """
        bundle = self._loaded().bundle
        compute = getattr(bundle, "feature_columns", None)
        if compute is None or (isinstance(transactions, pd.DataFrame) and transactions.empty):
            return transactions
        return compute(transactions, as_of)

    def score(self, transactions: TransactionsLike | FeatureColumns, as_of: date) -> pd.DataFrame:
        """Score clean canonical transactions at ``as_of`` (the batch path; no re-validation).

        ``transactions`` may also be what :meth:`features` returned for them.
        """
        payload = self._loaded()
        if isinstance(transactions, pd.DataFrame) and transactions.empty:
            raw = pd.DataFrame(columns=list(SCORE_COLUMNS))
        else:
            raw = payload.bundle.predict(transactions, as_of=as_of)
        return _finish(raw, as_of, payload.model_version, payload.horizons())

    def score_metadata(self, as_of: date, *, model_uri: str | None = None) -> dict[str, Any]:
        """Return what a score file says about itself (the ``churnmodel`` Parquet metadata).

        ``as_of``, ``horizon_days`` and ``clv_horizon_days``, the horizon of each score
        column (:data:`COLUMN_HORIZONS`: ``None`` for columns at ``as_of``),
        ``model_version``, ``model_uri``, and the bundle's training ``cutoff`` and
        ``time_zone``.
        """
        payload = self._loaded()
        horizon, clv_horizon = payload.horizons()
        days = {"horizon_days": horizon, "clv_horizon_days": clv_horizon}
        cutoff = getattr(payload.bundle, "cutoff", payload.info.get("cutoff"))
        return {
            "as_of": pd.Timestamp(as_of).date().isoformat(),
            "horizon_days": None if math.isnan(horizon) else horizon,
            "clv_horizon_days": None if math.isnan(clv_horizon) else clv_horizon,
            "column_horizon_days": {
                column: None if key is None or math.isnan(days[key]) else days[key]
                for column, key in COLUMN_HORIZONS.items()
            },
            "model_version": payload.model_version or None,
            "model_uri": model_uri,
            "model_cutoff": None if cutoff is None else str(cutoff),
            "time_zone": payload.timezone,
        }


def _check_columns(frame: pd.DataFrame) -> None:
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"request lacks column(s) {', '.join(repr(c) for c in missing)}; it has "
            f"{', '.join(repr(str(c)) for c in frame.columns) or 'no columns'}",
            column=missing[0],
            hint="send customer_id, timestamp (ISO 8601) and amount for every transaction",
        )


def _request_frame(model_input: Any) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        return model_input
    try:
        return pd.DataFrame(model_input)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"a request must be a table of transactions, got {type(model_input).__name__}",
            hint="send {'dataframe_split': {'columns': [...], 'data': [...]}}",
        ) from None


def _as_of(value: Any, payload: ModelPayload) -> date:
    """Return the request's ``as_of``; without one, today in the business time zone."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return payload.today()
    return to_date(value, "as_of")


def _finish(
    raw: pd.DataFrame, as_of: date, model_version: str, horizons: tuple[float, float]
) -> pd.DataFrame:
    """Put bundle output into the documented column order and dtypes, sorted by customer."""
    missing = [c for c in SCORE_COLUMNS[2:9] if c not in raw.columns]
    if missing:  # a bug in the bundle, not in the request
        raise RuntimeError(f"the bundle's predict() did not return {missing}")
    ids = raw[CUSTOMER_ID] if CUSTOMER_ID in raw.columns else raw.index.to_series()
    ids = ids.astype(str)
    # Stable order by id, as sort_values(kind="stable") gives; the bundle's is sorted already.
    order = None if ids.is_monotonic_increasing else np.argsort(ids.to_numpy(), kind="stable")

    def values(column: pd.Series | pd.Index, dtype: str | None = None) -> np.ndarray:
        array = column.to_numpy(dtype=dtype)
        return array if order is None else array[order]

    n = len(raw)
    return pd.DataFrame(
        {
            CUSTOMER_ID: pd.array(values(ids), dtype="str"),
            "as_of": np.full(n, pd.Timestamp(as_of).as_unit("ns").to_datetime64()),
            **{c: values(raw[c], "float64") for c in _NUMERIC_SCORES},
            "lifecycle_stage": pd.array(values(raw["lifecycle_stage"].astype(str)), dtype="str"),
            **{
                c: values(raw[c], "float64") if c in raw.columns else np.full(n, default)
                for c, default in zip(_HORIZONS, horizons, strict=True)
            },
            "model_version": model_version,
        }
    )


def save_payload(payload: ModelPayload, path: str | Path, *, max_rows: int = 1_000) -> Path:
    """Pickle ``payload`` to ``path`` after checking that it holds no training data.

    Raises
    ------
    ConfigError
        If the bundle holds a lifetimes fitter (which keeps its training frame in ``.data``) or
        a pandas object with more than ``max_rows`` rows.
    """
    _check_no_training_data(payload.bundle, max_rows=max_rows)
    target = Path(path)
    with target.open("wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return target


def load_payload(path: str | Path) -> ModelPayload:
    """Load a payload written by :func:`save_payload`."""
    with Path(path).open("rb") as fh:
        payload = pickle.load(fh)
    if not isinstance(payload, ModelPayload):
        raise ConfigError(f"{path} does not hold a churnmodel bundle")
    return payload


def _children(obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        return [(f"[{k!r}]", v) for k, v in obj.items()]
    if isinstance(obj, list | tuple | set | frozenset):
        return [(f"[{i}]", v) for i, v in enumerate(obj)]
    out = []
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        out += [(f".{k}", v) for k, v in state.items()]
    for slot in getattr(type(obj), "__slots__", ()) or ():
        if isinstance(slot, str) and hasattr(obj, slot):
            out.append((f".{slot}", getattr(obj, slot)))
    return out


def _check_no_training_data(bundle: Any, *, max_rows: int) -> None:
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("bundle", bundle)]
    while stack:
        where, obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        module = type(obj).__module__ or ""
        if module.split(".")[0] == "lifetimes":
            raise ConfigError(
                f"{where} is a lifetimes {type(obj).__name__}, which keeps its training data in "
                "'.data'; keep only the fitted parameters in the bundle"
            )
        if isinstance(obj, pd.DataFrame | pd.Series | pd.Index):
            if len(obj) > max_rows:
                raise ConfigError(
                    f"{where} is a pandas {type(obj).__name__} of {len(obj):,} rows: training "
                    f"data must not travel with the model (limit {max_rows:,} rows)"
                )
            continue
        if module.split(".")[0] in {"numpy", "scipy"}:
            continue
        stack.extend((f"{where}{name}", child) for name, child in _children(obj))
