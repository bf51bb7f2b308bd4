"""Typed settings for the command line, workflows and notebooks.

Precedence, lowest to highest: built-in defaults < a TOML config file < environment variables
``CHURNMODEL_<SECTION>__<NAME>`` (for example ``CHURNMODEL_DATA__TIMEZONE=Europe/Berlin``) <
command-line flags. Library functions never read settings: they take explicit arguments, and
only ``workflows``, ``cli`` and notebooks build a :class:`Settings`.

A config file mirrors the sections::

    [data]
    customer_col = "cust"
    date_col = "order_date"
    amount_col = "revenue"
    timezone = "Europe/Berlin"

    [features]
    time_unit = "W"

    [model]
    cutoff = "2024-03-31"          # end of calibration; the holdout follows it
    horizon_days = 90

    [tracking]
    experiment = "churnmodel"
    registered_model = "churnmodel"
    promotion_rules = ["lapse_roc_auc > baseline_recency_roc_auc",
                       "lapse_roc_auc > champion_lapse_roc_auc"]

    [scoring]
    chunk_customers = 200000

    [monitoring]
    max_psi = 0.2
    max_auc_drop = 0.05

    [server]
    backend_store_uri = "postgresql://mlflow@db.internal/mlflow"   # better: the environment

    [plan]                         # the retention policy: docs/planning.md
    budget = 5000.0
    costs = { win_back = 4.0, reward = 10.0 }

The ``[tracking]`` store defaults to ``MLFLOW_TRACKING_URI`` when that is set (a team server)
and to the project's SQLite file ``sqlite:///mlflow.db`` otherwise; ``uri`` set here (file,
``CHURNMODEL_TRACKING__URI`` or a flag) wins over both. See ``docs/mlflow.md``. ``[monitoring]``
sets the limits ``churnmodel monitor`` reports against (``docs/monitoring.md``), ``[server]`` the
team server ``churnmodel server`` starts (``docs/team-server.md``); secrets (database password,
admin password, secret key) belong in the environment, not in a file.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from churnmodel.dates import parse_date
from churnmodel.exceptions import ConfigError

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_PROMOTION_RULES",
    "DataSettings",
    "FeatureSettings",
    "ModelSettings",
    "MonitoringSettings",
    "PlanSettings",
    "ScoringSettings",
    "ServerSettings",
    "Settings",
    "TrackingSettings",
    "load_settings",
]


class _Section(BaseModel):
    # The docstring under each field is its description (docs/configuration.md shows it).
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class DataSettings(_Section):
    """How to read the transaction log (see :func:`churnmodel.read_transactions`)."""

    customer_col: str = "customer_id"
    """Column of the customer id (read as text: leading zeros are kept)."""
    date_col: str = "timestamp"
    """Column of the transaction timestamp."""
    amount_col: str = "amount"
    """Column of the amount; negative amounts are returns."""
    order_col: str | None = None
    """Column of the order id; rows repeating an order id and its fields are duplicates."""
    timezone: str = "UTC"
    """Business time zone (IANA name): timestamps with an offset are converted to it."""
    date_format: str | None = None
    """strptime format of the timestamps inside the file when they are not ISO 8601."""
    decimal: Literal[".", ","] = "."
    """Decimal mark of amounts written as text (the other mark is the thousands separator)."""
    delimiter: str | None = None
    """CSV field separator; sniffed from the file when not set."""
    encoding: str = "utf-8"
    """CSV text encoding."""
    dedupe: Literal["auto", "all", "none"] = "auto"
    """Repeated rows: auto drops exact duplicates when order_col is set and keeps identical
    rows without it; all drops rows identical in every column; none keeps every row."""
    max_quarantine_share: float = Field(default=0.01, ge=0.0, le=1.0)
    """Stop when more than this share of the rows is quarantined (bad)."""


class FeatureSettings(_Section):
    """How to turn transactions into customer features.

    A customer-day is a purchase when its net amount is above ``min_net_amount``; with
    ``free_orders_are_purchases`` (default) also when it holds only $0 orders (net 0, nothing
    returned), as in lifetimes and the papers; with ``zero_net_is_purchase`` when it nets to
    0 for any reason (:class:`~churnmodel.features.PurchaseRule`).
    """

    time_unit: Literal["D", "W", "M"] = "D"
    """Unit of recency and T: days (D), weeks (W) or months (M, 365.25/12 days)."""
    min_net_amount: float = 0.0
    """A customer-day is a purchase when its net amount is above this."""
    zero_net_is_purchase: bool = False
    """Count a day whose net amount is exactly zero for any reason as a purchase."""
    free_orders_are_purchases: bool = True
    """Count a day of only $0 orders (net 0, nothing returned) as a purchase, as lifetimes does."""


class ModelSettings(_Section):
    """What to train: the calibration cut-off, the prediction horizon and the CLV terms.

    ``cutoff`` ends the calibration period; the holdout is the ``horizon_days`` after it. With
    neither set, the bundled CDNOW log uses the published split (calibration to 1997-09-30,
    holdout to the end of the data, 273 days) and any other log the last
    :data:`DEFAULT_HORIZON_DAYS` days as holdout. With one set, the other follows from the last
    transaction date. The training design and the models are chosen by
    :func:`churnmodel.workflows.evaluate.train_and_evaluate` (``docs/lapse-and-spend.md``).

    What is served (``docs/mlflow.md``): after the holdout evaluation, ``refit`` (default on)
    fits the same settings again on every row up to the last day of the log ``S``, and that
    model is registered: it forecasts ``(S, S + horizon_days]``. With ``refit = false`` the
    model evaluated at ``cutoff`` is registered as it is. ``aligned_evaluation`` (default on)
    also runs the whole flow one year before the served window when the log is long enough
    (the season-aligned scorecard, which the promotion rules then use). The training design
    adds snapshots whose label windows are the served window's calendar window
    ``same_window_years`` years earlier (default 2, 0 for none), and the season features cover
    ``season_days`` days (default: the horizon, at most 365). ``season_level`` (default on)
    sets the level of the lapse probabilities on the training snapshot whose label window is
    the served window one year earlier, when there is one (the latest snapshot, which
    calibrates them, is another season). ``monotonic`` (default on)
    constrains the lapse and spend models to be monotone in the features that move as a
    customer grows stale (``docs/lapse-and-spend.md``).

    ``backtest_cutoffs`` (default 3, 0 for none) repeats the holdout evaluation at that many
    earlier cut-offs, ``backtest_step_days`` (default 30) apart, with the same settings: the
    run logs each metric over the cut-offs (a line, not a point). A cut-off whose history is too
    short for the training design is left out, and the run says so.

    ``training_customers`` (default 100,000; 0 for all) bounds the customers whose training
    snapshots the lapse and spend models learn from: above it they learn from a sample
    stratified by month of first purchase, the same customers in every training set of the
    run, and the backtests run on that sample; the holdout and season-aligned evaluations,
    the probabilistic models and the served scores use every customer
    (``docs/lapse-and-spend.md``, "Large logs").

    ``threads`` caps the OpenMP threads of the gradient-boosting models while training and
    scoring: OpenMP threads spin-wait, and on a machine whose cores are busy with other jobs
    two threads were measured 20x slower than one.
    """

    cutoff: date | None = None
    """End of calibration (YYYY-MM-DD); the holdout follows it. Default: CDNOW 1997-09-30,
    other logs the last date less the horizon."""
    horizon_days: int | None = Field(default=None, gt=0)
    """Holdout length and forecast horizon in days. Default: from the cut-off to the end of
    the log; 90 when no cut-off is set (CDNOW: 273)."""
    clv_horizon_days: int = Field(default=365, gt=0)
    """Horizon of the customer lifetime value, in days."""
    annual_discount_rate: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Yearly discount rate of future spend in the CLV."""
    seed: int = 0
    """Random seed of the models and the bootstrap."""
    threads: int = Field(default=1, ge=1)
    """OpenMP threads of the gradient-boosting models while training."""
    refit: bool = True
    """Refit on every row to the end of the log after evaluating, and serve that model."""
    aligned_evaluation: bool = True
    """Also run the whole flow one year before the served window (season-aligned scorecard)."""
    same_window_years: int = Field(default=2, ge=0, le=5)
    """Training snapshots whose label windows are the served window 1..N years earlier."""
    season_days: int | None = Field(default=None, gt=0, le=365)
    """Days covered by the season features. Default: the horizon, at most 365."""
    monotonic: bool = True
    """Constrain the lapse and spend models to be monotone in staleness features."""
    season_level: bool = True
    """Set the level of the lapse probabilities on the snapshot one year before the served
    window."""
    backtest_cutoffs: int = Field(default=3, ge=0, le=24)
    """Earlier cut-offs the model is also backtested at (logged as step metrics); 0 for none."""
    backtest_step_days: int = Field(default=30, gt=0)
    """Days between the backtest cut-offs, counted back from the cut-off."""
    training_customers: int = Field(default=100_000, ge=0)
    """Most customers whose snapshots train the lapse and spend models (a sample stratified by
    first month); every customer is still scored. 0: all."""

    @field_validator("cutoff", mode="before")
    @classmethod
    def _iso_cutoff(cls, value: Any) -> Any:
        """Text must be ISO 8601 (``2024-03-31``): ``01/06/2024`` is refused, not guessed."""
        return value if value is None else parse_date(value, "cutoff")


#: Holdout length when neither a cut-off nor a horizon is set (logs other than CDNOW).
DEFAULT_HORIZON_DAYS = 90


#: The promotion rules when none are configured: beat days-since-last-purchase and the
#: current champion on lapse ROC AUC (a rule naming ``champion_*`` holds when there is none).
DEFAULT_PROMOTION_RULES: tuple[str, ...] = (
    "lapse_roc_auc > baseline_recency_roc_auc",
    "lapse_roc_auc > champion_lapse_roc_auc",
)


class TrackingSettings(_Section):
    """Where runs and models go in MLflow, and when a new model becomes the champion.

    ``promotion_rules`` are comparisons ``<metric> <op> <metric or number>`` (op one of ``>``,
    ``>=``, ``<``, ``<=``) over the run's metrics; the ``alias`` moves to a new model version
    only when every rule holds. ``promotion_scorecard`` says which scorecard the rules read:
    ``auto`` (default) the season-aligned one when the run has it, else the holdout;
    ``holdout``; ``aligned`` (a run without it is not promoted). ``champion_*`` metrics are
    the current champion scored on the same holdout.

    ``registered_model``: when it is not set anywhere (file, environment, flag), models go to
    ``churnmodel``, except that a run on other data than that model's champion (another
    source or fingerprint) registers under ``churnmodel-<data name>`` instead, unless
    ``promote_other_data`` (``--promote``) lets it compete for ``churnmodel``'s alias.
    ``register_model = false`` logs the run without registering a model.
    """

    uri: str | None = None
    """Tracking store. Default: MLFLOW_TRACKING_URI when set, else sqlite:///mlflow.db."""
    artifact_root: str = "mlartifacts"
    """Folder of the run artifacts of a SQLite store (relative to the store's folder)."""
    experiment: str = "churnmodel"
    """MLflow experiment of the training runs."""
    registered_model: str = "churnmodel"
    """Registered model that new versions go to (a run on other data: churnmodel-<data>)."""
    alias: str = "champion"
    """Alias that the promoted version takes."""
    register_model: bool = True
    """Register the trained model (and maybe promote it); false only logs the run."""
    promote_other_data: bool = False
    """Let a run on other data than the champion's compete for its alias."""
    promotion_rules: tuple[str, ...] = DEFAULT_PROMOTION_RULES
    """Comparisons that must all hold for promotion, e.g. "lapse_roc_auc >
    champion_lapse_roc_auc"."""
    promotion_scorecard: Literal["auto", "holdout", "aligned"] = "auto"
    """Scorecard the rules read: auto (season-aligned when there is one), holdout, aligned."""


class ScoringSettings(_Section):
    """Batch scoring: how many customers are scored at a time, and what the summary shows.

    ``threads`` caps the OpenMP threads of the gradient-boosting models during batch scoring
    (default: every core). Prediction parallelises over rows with no spin-waiting to fear
    once ``OMP_WAIT_POLICY=PASSIVE``, which the ``churnmodel`` command sets; lower it when the
    job shares the machine.
    """

    chunk_customers: int = Field(default=200_000, gt=0)
    """Customers scored at a time (memory bound of batch scoring)."""
    top_n: int = Field(default=10, ge=0)
    """Customers listed in the summary, by value at risk."""
    threads: int | None = Field(default=None, ge=1)
    """OpenMP threads of batch scoring. Default: every core."""


class MonitoringSettings(_Section):
    """Limits ``churnmodel monitor`` holds the champion's realised record to.

    A monitoring run compares what the served model forecast for its window with what
    happened (``docs/monitoring.md``). It reports a problem (exit code 3) when any limit is
    exceeded:

    * ``max_auc_drop``: promised minus realised lapse ROC AUC (promised: the season-aligned
      evaluation when the training run had one, else the holdout);
    * ``max_brier_rise``: realised minus promised lapse Brier score;
    * ``max_calibration_gap``: mean ``p_churn`` minus the realised lapse rate, either sign;
    * ``max_spearman_drop``: promised minus realised spend Spearman;
    * ``max_spend_error``: the realised total spend error, ``|predicted / actual - 1|``;
    * ``max_psi``: the population stability index of any feature between the customers at
      the model's training snapshot and now, except the features in ``drift_exclude`` (by
      default the customer's age, ``T`` and ``tenure_days``, which grow with the calendar
      for every customer of a young log; they are still measured and shown).

    ``experiment``: where monitoring runs are logged (default ``<tracking experiment>-
    monitoring``); ``psi_bins``: quantile bins of the training snapshot.
    """

    experiment: str | None = None
    """Experiment of the monitoring runs. Default: the tracking experiment + ``-monitoring``."""
    max_auc_drop: float = Field(default=0.05, ge=0.0)
    """Largest allowed drop of the realised lapse ROC AUC below the promised one."""
    max_brier_rise: float = Field(default=0.05, ge=0.0)
    """Largest allowed rise of the realised lapse Brier score above the promised one."""
    max_calibration_gap: float = Field(default=0.1, ge=0.0)
    """Largest allowed gap (either sign) of the mean ``p_churn`` and the realised lapse rate."""
    max_spearman_drop: float = Field(default=0.15, ge=0.0)
    """Largest allowed drop of the realised spend Spearman below the promised one."""
    max_spend_error: float = Field(default=0.5, ge=0.0)
    """Largest allowed realised total spend error, ``|predicted / actual - 1|``."""
    max_psi: float = Field(default=0.2, gt=0.0)
    """Largest allowed population stability index of a feature, training snapshot -> now."""
    drift_exclude: tuple[str, ...] = ("T", "tenure_days")
    """Features measured for drift but not held to ``max_psi`` (they grow with the calendar)."""
    psi_bins: int = Field(default=10, ge=2, le=100)
    """Quantile bins of the training snapshot for the population stability index."""


class ServerSettings(_Section):
    """The team's MLflow tracking server, started by ``churnmodel server``.

    ``backend_store_uri`` is a PostgreSQL URI (``postgresql://user:password@host:5432/db``),
    best given in the environment (``CHURNMODEL_SERVER__BACKEND_STORE_URI``) since it holds a
    password; the users and permissions of MLflow's basic authentication live in the same
    database unless ``auth_database_uri`` names another. ``artifacts_destination`` is where
    the server keeps artifacts it proxies for the clients: a folder, or ``s3://bucket/prefix``
    (an S3-compatible store, ``docs/team-server.md``). The server binds ``host`` (loopback
    unless told otherwise). The admin password and the secret key come from MLflow's own
    environment variables ``MLFLOW_AUTH_ADMIN_PASSWORD`` and ``MLFLOW_FLASK_SERVER_SECRET_KEY``.
    """

    backend_store_uri: str | None = None
    """PostgreSQL URI of runs, models and the registry (``postgresql://user:password@host:5432/db``).
    Required by ``churnmodel server``; best set in the environment, as it holds a password."""
    auth_database_uri: str | None = None
    """Database of the basic-authentication users and permissions. Default: the backend store."""
    artifacts_destination: str = "mlartifacts-server"
    """Where the server keeps the artifacts it proxies: a folder or ``s3://bucket/prefix``."""
    host: str = "127.0.0.1"
    """Address the server binds (``--host``); loopback unless told otherwise."""
    port: int = Field(default=5000, gt=0, lt=65536)
    """Port of the server (``--port``)."""
    workers: int = Field(default=2, ge=1)
    """Server worker processes (``--workers``)."""
    admin_username: str = "admin"
    """The basic-authentication admin MLflow creates on first start (password from
    ``MLFLOW_AUTH_ADMIN_PASSWORD``)."""
    default_permission: Literal["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"] = "READ"
    """What a signed-in user may do with experiments and models they were given no permission on."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names the server answers to beyond loopback and private addresses (MLflow's
    ``--allowed-hosts``), e.g. the name a reverse proxy serves it under."""


_PLAN_ACTIONS = ("retain", "reward", "win_back", "seasonal_reminder", "nurture")
_PLAN_STAGES = (
    "new",
    "active",
    "loyal",
    "lapsed_short",
    "lapsed_long",
    "lapsed_seasonal",
    "inactive",
)


class PlanSettings(_Section):
    """The retention policy of ``churnmodel plan`` (:class:`churnmodel.planning.RetentionPolicy`).

    Every field is documented on :class:`~churnmodel.planning.RetentionPolicy` and in
    ``docs/planning.md``. ``costs`` (per contact, by action) and ``response_rates`` (the
    assumed incremental purchase probability of a contact, by life-cycle stage, used when no
    campaign history is given) are merged over the defaults, so a file may name a few.
    """

    costs: dict[str, float] = Field(
        default_factory=lambda: {
            "retain": 2.0,
            "reward": 8.0,
            "win_back": 3.0,
            "seasonal_reminder": 1.5,
            "nurture": 1.0,
        }
    )
    """Cost of one contact by action (retain, reward, win_back, seasonal_reminder, nurture);
    names left out keep their default."""
    response_rates: dict[str, float] = Field(
        default_factory=lambda: {
            "new": 0.10,
            "active": 0.05,
            "loyal": 0.04,
            "lapsed_short": 0.10,
            "lapsed_long": 0.06,
            "lapsed_seasonal": 0.15,
            "inactive": 0.02,
        }
    )
    """Assumed share of persuadable customers a contact turns into buyers, by life-cycle
    stage; used without campaign history."""
    margin: float = Field(default=1.0, gt=0.0, le=1.0)
    """Share of incremental revenue that counts as value (1.0: revenue)."""
    budget: float | None = Field(default=None, ge=0.0)
    """Most the plan's contacts may cost in total; never exceeded. Default: no limit."""
    max_contacts: int = Field(default=2, ge=1)
    """Contact cap: at most this many contacts per customer in contact_window_days."""
    contact_window_days: int = Field(default=90, gt=0)
    """Days up to a contact date over which the contact cap counts contacts."""
    campaign_window_days: int = Field(default=90, gt=0, le=365)
    """Days after a contact in which its response is counted."""
    contact_delay_days: int = Field(default=1, ge=0)
    """Days after the scores' as_of when contacts that are not timed go out."""
    retain_min_p_churn: float = Field(default=0.3, ge=0.0, le=1.0)
    """Active or loyal customers are contacted (retain) only at or above this p_churn."""
    reward_top_share: float = Field(default=0.05, ge=0.0, le=1.0)
    """Loyal customers whose CLV is in this top share of all customers get reward."""
    seasonal_lead_days: int = Field(default=21, ge=0, le=180)
    """A seasonal customer is contacted this many days before their own season starts."""
    seasonal_min_concentration: float = Field(default=0.9, gt=0.0, le=1.0)
    """Least concentration of purchase days in one time of year for a seasonal customer."""
    seasonal_min_span_days: int = Field(default=300, ge=0)
    """Least days between first and last purchase for a seasonal customer."""
    nurture_after_days: int = Field(default=14, ge=0)
    """New customers are nurtured this many days after their first purchase."""
    uplift_value: Literal["purchase", "spend"] = "purchase"
    """How a measured response is valued: purchase (uplift in P(buy) x order value) or spend
    (the incremental spend model)."""
    min_treated: int = Field(default=200, ge=1)
    """Least treated contacts of an action for its uplift model (else the assumed rate)."""
    min_control: int = Field(default=50, ge=1)
    """Least control-group contacts of an action for its uplift model."""
    holdout_share: float = Field(default=0.25, gt=0.0, lt=1.0)
    """Share of the contact log (the latest campaigns) held out to evaluate the uplift models."""
    n_boot: int = Field(default=200, ge=0)
    """Bootstrap resamples of the holdout Qini coefficient's interval."""
    seed: int = 0
    """Seed of the uplift models and the bootstrap."""

    @field_validator("costs", mode="after")
    @classmethod
    def _costs(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(_PLAN_ACTIONS))
        if unknown:
            raise ValueError(f"unknown action(s) {unknown}; actions: {list(_PLAN_ACTIONS)}")
        bad = {k: v for k, v in value.items() if not v >= 0}
        if bad:
            raise ValueError(f"costs must be >= 0, got {bad}")
        defaults = cls.model_fields["costs"].get_default(call_default_factory=True)
        return {**defaults, **value}

    @field_validator("response_rates", mode="after")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(_PLAN_STAGES))
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {list(_PLAN_STAGES)}")
        bad = {k: v for k, v in value.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"response rates must be in [0, 1], got {bad}")
        defaults = cls.model_fields["response_rates"].get_default(call_default_factory=True)
        return {**defaults, **value}


class Settings(BaseSettings):
    """All settings, by section."""

    model_config = SettingsConfigDict(
        env_prefix="CHURNMODEL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data: DataSettings = DataSettings()
    features: FeatureSettings = FeatureSettings()
    model: ModelSettings = ModelSettings()
    tracking: TrackingSettings = TrackingSettings()
    scoring: ScoringSettings = ScoringSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    server: ServerSettings = ServerSettings()
    plan: PlanSettings = PlanSettings()

    @field_validator(
        "data",
        "features",
        "model",
        "tracking",
        "scoring",
        "monitoring",
        "server",
        "plan",
        mode="before",
    )
    @classmethod
    def _none_is_default(cls, value: Any) -> Any:
        return {} if value is None else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only explicit values and the environment (the file is merged by load_settings)."""
        # First wins: flags (init) > environment > file (passed through init as _file) > defaults.
        return (init_settings, env_settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(
    config_file: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Settings:
    """Build settings from defaults, a TOML file, the environment and explicit overrides.

    Parameters
    ----------
    config_file
        TOML file with ``[data]``, ``[features]``, ``[model]``, ``[tracking]``,
        ``[scoring]``, ``[monitoring]``, ``[server]`` and ``[plan]`` sections.
    overrides
        Highest-precedence values by section (the CLI's flags); ``None`` values are ignored
        so an unset flag does not hide the file or the environment.

    Raises
    ------
    ConfigError
        If the file cannot be read or a value is invalid; the message names the setting.
    """
    file_values = _read_toml(Path(config_file)) if config_file is not None else {}
    flags = {
        section: {k: v for k, v in values.items() if v is not None}
        for section, values in (overrides or {}).items()
    }
    try:
        env_only = Settings()
        env_values = env_only.model_dump(exclude_unset=True)
        env_set = {
            section: getattr(env_only, section).model_dump(exclude_unset=True)
            for section in env_values
        }
        merged = _merge(_merge(file_values, env_set), flags)
        return Settings(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
