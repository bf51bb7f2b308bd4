"""The plan job: scores (+ the log, + a contact log) -> one action per customer, logged to MLflow.

``plan_job(settings, scores=..., output=...)``:

1. reads the scores (``churnmodel score``'s Parquet or CSV) and the ``[plan]`` policy;
2. with the transaction log (``data``): customer features and each customer's own season
   at the scores' ``as_of`` (order values, first purchases, seasonal contact dates);
3. with a contact log (``contacts``, needs ``data``): checks it against the log (unknown
   customers, dates outside the log: an error naming the rows; a control group that fails
   the balance check: a warning naming the campaign), builds the uplift table, fits the
   response models on the older campaigns and scores the latest ones (Qini coefficients
   with bootstrap intervals, against targeting by ``p_churn``, ``value_at_risk`` and at
   random, scored by churnmodel's own model fitted the day before the holdout), then
   refits the response models on every campaign for the plan;
4. makes the plan (:func:`churnmodel.planning.plan_retention`), writes it (atomically) and
   logs one MLflow run: the policy (params ``plan.*``), the totals (metrics ``plan_*``), the
   holdout's Qini metrics, the Qini plot, tables of actions, rules and response factors.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnmodel.config import Settings
from churnmodel.exceptions import ChurnModelError, ConfigError, DataValidationError
from churnmodel.features import FeatureWindows, customer_features, season_calendar
from churnmodel.features.engine import TransactionsLike
from churnmodel.io import write_table
from churnmodel.io.tables import table_format
from churnmodel.planning import (
    ControlGroupWarning,
    RetentionPolicy,
    check_balance,
    plan_retention,
    uplift_table,
    validate_contacts,
)
from churnmodel.schemas import CUSTOMER_ID
from churnmodel.workflows.features import load_log, load_quarantined, purchase_rule, quarantine_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnmodel.planning import ResponseEvaluation

__all__ = [
    "PlanResult",
    "holdout_rule_scores",
    "log_plan_run",
    "plan_job",
    "policy_from_settings",
    "qini_figure",
    "read_table",
]


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """Read a Parquet or CSV table; a missing file or another extension is one clear error.

    A CSV's ``customer_id`` is read as text, as the transaction log's is: ``007`` stays
    ``007`` and matches the log.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} file not found: {p}")
    kind = table_format(p)
    if kind == "parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p, dtype={CUSTOMER_ID: "str"})


def _customer_ids(transactions: TransactionsLike) -> pd.Index:
    """Every customer id in the log (returns-only customers included)."""
    if isinstance(transactions, pd.DataFrame):
        return pd.Index(transactions[CUSTOMER_ID].astype("str").unique())
    ids = transactions.con.execute(
        f"SELECT DISTINCT {CUSTOMER_ID} FROM {transactions.view}"
    ).fetchall()
    return pd.Index([str(row[0]) for row in ids])


def policy_from_settings(settings: Settings, **overrides: Any) -> RetentionPolicy:
    """Return the ``[plan]`` settings as a :class:`~churnmodel.planning.RetentionPolicy`."""
    values = settings.plan.model_dump()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return RetentionPolicy.from_values(values)


@dataclass(frozen=True)
class PlanResult:
    """What the plan job wrote and measured (the CLI prints it)."""

    output: Path
    as_of: date
    totals: dict[str, Any]
    policy: RetentionPolicy
    run_id: str | None
    qini: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def holdout_rule_scores(
    transactions: TransactionsLike,
    evaluation: ResponseEvaluation,
    *,
    window_days: int,
) -> pd.DataFrame:
    """Score the holdout contacts as churnmodel would have on their campaign days.

    A bundle (``workflows.evaluate.fit_bundle``, default settings, horizon ``window_days``)
    is fitted on the log up to the day before the holdout's first contact and scores each
    holdout customer the day before their contact. Returns the holdout predictions with
    ``p_churn`` and ``value_at_risk`` added (NaN for customers it cannot score).
    """
    from churnmodel.workflows.evaluate import fit_bundle

    rows = evaluation.predictions.copy()
    cutoff = (evaluation.holdout_start - pd.Timedelta(days=1)).date()
    bundle = fit_bundle(transactions, cutoff=cutoff, horizon_days=window_days)
    rows["p_churn"] = np.nan
    rows["value_at_risk"] = np.nan
    for day in sorted(rows["contact_date"].unique()):
        scored = bundle.predict(transactions, (pd.Timestamp(day) - pd.Timedelta(days=1)).date())
        mask = (rows["contact_date"] == day).to_numpy()
        ids = rows.loc[mask, CUSTOMER_ID].astype("str")
        for col in ("p_churn", "value_at_risk"):
            rows.loc[mask, col] = scored[col].reindex(ids).to_numpy(dtype=float)
    return rows


def qini_figure(rows: pd.DataFrame) -> Figure:
    """Qini curves of the holdout: the uplift model beside the score rules and random.

    Two panels: incremental buyers (ranked by ``uplift_purchase``) and incremental spend
    (ranked by ``uplift_spend``); ``value_at_risk`` and ``p_churn`` when the rows have them;
    the dashed line is random targeting.
    """
    from matplotlib.figure import Figure

    from churnmodel.evaluation.uplift import plot_qini

    rows = rows.dropna(subset=["uplift_spend"])
    fig = Figure(figsize=(12.0, 4.8))
    panels = (
        ("purchased", "uplift_purchase", "incremental buyers"),
        ("spend", "uplift_spend", "incremental spend in the window"),
    )
    for k, (outcome, model, label) in enumerate(panels):
        scores: dict[str, object] = {"uplift model": rows[model]}
        for col in ("value_at_risk", "p_churn"):
            if col in rows and rows[col].notna().all():
                scores[col] = rows[col]
        ax = fig.add_subplot(1, 2, k + 1)
        plot_qini(
            rows[outcome].to_numpy(dtype=float),
            rows["treated"].to_numpy(dtype=float),
            scores,
            ax=ax,
            ylabel=label,
        )
        ax.set_title(f"{label}: {len(rows):,} holdout contacts", fontsize="medium")
    fig.tight_layout()
    return fig


def _rule_qini(rows: pd.DataFrame, *, n_boot: int, seed: int) -> pd.DataFrame:
    from churnmodel.evaluation.uplift import qini_interval

    rows = rows.dropna(subset=["uplift_spend"])
    out = []
    rules = {"uplift model": "uplift_spend", "value_at_risk": "value_at_risk", "p_churn": "p_churn"}
    for rule, col in rules.items():
        if col not in rows or rows[col].isna().any() or rows.empty:
            continue
        ci = qini_interval(
            rows["spend"].to_numpy(dtype=float),
            rows[col].to_numpy(dtype=float),
            rows["treated"].to_numpy(dtype=float),
            n_boot=n_boot,
            seed=seed,
        )
        out.append({"rule": rule, "qini_spend": ci.value, "ci_low": ci.low, "ci_high": ci.high})
    return pd.DataFrame(out)


def log_plan_run(
    settings: Settings,
    *,
    plan: pd.DataFrame,
    policy: RetentionPolicy,
    name: str,
    qini: Mapping[str, float] | None = None,
    rules: pd.DataFrame | None = None,
    holdout: pd.DataFrame | None = None,
    factors: pd.DataFrame | None = None,
    figures: Mapping[str, Figure] | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> str:
    """Log a plan to one MLflow run; return the run id.

    Params ``plan.*`` (the policy), metrics ``plan_<total>`` (customers, contacted, per
    action, cost, expected incremental and net value, budget left), the holdout's
    ``qini_*`` metrics, tables ``plan/actions`` (customers, cost and value per action and
    stage), ``plan/rules`` (targeting rules compared), ``plan/holdout_rules`` (Qini of each
    rule on the holdout), ``plan/response_factors``; plots ``plots/qini.png`` and any
    ``figures``; more ``metrics`` and ``tables`` (artifact path -> frame) as given. No
    customer rows are logged.
    """
    from churnmodel import tracking

    tracking.open_store(
        settings.tracking.uri,
        experiment=settings.tracking.experiment,
        artifact_root=settings.tracking.artifact_root,
    )
    totals = plan.attrs.get("totals") or {}
    with tracking.run(name, tags={"kind": "retention plan", **dict(tags or {})}) as run_id:
        tracking.log_params({"plan": policy.summary()})
        logged = dict(metrics or {})
        logged.update({f"plan_{k}": float(v) for k, v in totals.items() if _number(v)})
        logged.update({k: float(v) for k, v in (qini or {}).items()})
        tracking.log_metrics(logged)
        for path, frame in (tables or {}).items():
            tracking.log_table(frame, path)
        by = (
            plan.assign(action=plan["action"].astype("str"))
            .groupby(["action", "lifecycle_stage"], observed=True)
            .agg(
                customers=(CUSTOMER_ID, "size"),
                cost=("cost", "sum"),
                expected_incremental_value=("expected_incremental_value", "sum"),
                expected_net_value=("expected_net_value", "sum"),
            )
            .reset_index()
        )
        tracking.log_table(by, "plan/actions.json")
        if rules is not None:
            tracking.log_table(rules, "plan/rules.json")
        if holdout is not None and len(holdout):
            tracking.log_table(holdout, "plan/holdout_rules.json")
        if factors is not None and len(factors):
            tracking.log_table(factors, "plan/response_factors.json")
        if figures:
            tracking.log_figures(dict(figures))
        tracking.set_tags({"as_of": plan.attrs.get("as_of", "")})
    return run_id


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plan_job(
    settings: Settings,
    *,
    scores: str | Path,
    output: str | Path,
    data: str | Path | None = None,
    contacts: str | Path | None = None,
    budget: float | None = None,
    log_run: bool = True,
) -> PlanResult:
    """Run the plan job (module docstring).

    Raises
    ------
    ChurnModelError
        Unreadable or inconsistent scores, a bad policy, a contact log without ``data`` or
        with unknown customers or dates outside the log (the error names the rows).
    """
    started = time.perf_counter()
    out = Path(output)
    table_format(out)  # a bad extension fails before any work
    policy = policy_from_settings(settings, budget=budget)
    score_frame = read_table(scores, "scores")
    if contacts is not None and data is None:
        raise ConfigError(
            "--contacts needs --data: the response to a contact is measured in the transaction log"
        )
    if "as_of" not in score_frame.columns:
        raise DataValidationError(
            "the scores have no as_of column", column="as_of", hint="use churnmodel score's output"
        )
    as_of = pd.Timestamp(score_frame["as_of"].iloc[0]).date() if len(score_frame) else None
    if as_of is None:
        raise DataValidationError("the scores file holds no customer", hint="check --scores")
    notes: list[str] = []
    features = seasons = contact_log = response = None
    qini: dict[str, float] = {}
    holdout_table = factors = None
    figures: dict[str, Figure] = {}
    if data is not None:
        quarantine = quarantine_path(out)
        transactions: TransactionsLike
        transactions, report = load_quarantined(
            lambda: load_log(data, settings, as_of=as_of),
            lambda rows: write_table(rows, quarantine),
        )
        rule = purchase_rule(settings)
        features = customer_features(
            transactions,
            as_of,
            purchase=rule,
            windows=FeatureWindows(season=policy.campaign_window_days),
        )
        seasons = season_calendar(transactions, as_of, purchase=rule)
        if contacts is not None:
            from churnmodel.planning import (
                PersuadableModel,
                ResponseModel,
                evaluate_response,
                holdout_qini,
            )

            if report.first_date is None or report.last_date is None:  # pragma: no cover
                raise DataValidationError("the transaction log holds no usable row")
            contact_log = validate_contacts(
                read_table(contacts, "contact log"),
                customers=_customer_ids(transactions),
                first_date=report.first_date,
                last_date=report.last_date,
            )
            persuadable: PersuadableModel | None = None
            try:
                persuadable = PersuadableModel(
                    window_days=policy.campaign_window_days, random_state=policy.seed
                ).fit(
                    transactions,
                    first_date=report.first_date,
                    last_date=report.last_date,
                    purchase=rule,
                )
            except DataValidationError as exc:
                notes.append(f"persuadable probability from Pareto/NBD: {str(exc).splitlines()[0]}")
            table = uplift_table(
                transactions,
                contact_log,
                window_days=policy.campaign_window_days,
                history_window_days=policy.contact_window_days,
                last_date=report.last_date,
                purchase=rule,
                persuadable=persuadable,
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ControlGroupWarning)
                check_balance(table)
            for w in caught:
                notes.append(str(w.message))
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            params = {
                "min_treated": policy.min_treated,
                "min_control": policy.min_control,
                "over_contact": policy.max_contacts,
                "seasonal_min_concentration": policy.seasonal_min_concentration,
                "random_state": policy.seed,
            }
            try:
                evaluation = evaluate_response(
                    table,
                    window_days=policy.campaign_window_days,
                    holdout_share=policy.holdout_share,
                    persuadable=persuadable,
                    **params,
                )
            except DataValidationError as exc:
                notes.append(f"no holdout evaluation: {str(exc).splitlines()[0]}")
            else:
                qini = holdout_qini(evaluation, n_boot=policy.n_boot, seed=policy.seed)
                rows = evaluation.predictions
                try:
                    rows = holdout_rule_scores(
                        transactions, evaluation, window_days=policy.campaign_window_days
                    )
                except ChurnModelError as exc:  # the comparison is optional
                    notes.append(f"holdout not scored by p_churn / value_at_risk: {exc}")
                holdout_table = _rule_qini(rows, n_boot=policy.n_boot, seed=policy.seed)
                figures["plots/qini.png"] = qini_figure(rows)
                notes.append(
                    f"holdout: {evaluation.holdout_rows:,} contacts from "
                    f"{evaluation.holdout_start.date()}, models fitted on "
                    f"{evaluation.train_rows:,} earlier ones"
                )
            response = ResponseModel(**params).fit(table, persuadable=persuadable)
            factors = response.factors()
    plan = plan_retention(
        score_frame,
        policy,
        features=features,
        seasons=seasons,
        contacts=contact_log,
        response=response,
    )
    write_table(plan, out)
    run_id = None
    if log_run:
        run_id = log_plan_run(
            settings,
            plan=plan,
            policy=policy,
            name=f"plan {as_of} ({Path(scores).name})",
            qini=qini,
            holdout=holdout_table,
            factors=factors,
            figures=figures,
            tags={"scores": str(scores), "contacts": str(contacts or "")},
        )
    return PlanResult(
        output=out,
        as_of=as_of,
        totals=dict(plan.attrs["totals"]),
        policy=policy,
        run_id=run_id,
        qini=qini,
        notes=notes,
        seconds=time.perf_counter() - started,
    )
