"""A scorecard for people: small tables, rounded, the interval beside the value.

:func:`scorecard_tables` returns one narrow table per task (the columns a reader compares:
ROC AUC with its interval, Brier score, top-decile lift, PR AUC; Spearman with its interval,
Gini, total spend error, top-decile capture), rows in reading order (the chosen model, the
champion, the other models, the baselines); :func:`scorecard_markdown` renders them as
Markdown. Values are rounded to ``digits`` decimals; a metric that does not apply shows "–".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from churnmodel.evaluation.scorecard import Scorecard

__all__ = ["markdown_table", "scorecard_markdown", "scorecard_tables"]

_DASH = "–"


def _number(value: object, digits: int) -> str:
    number = float(value)  # type: ignore[arg-type]
    return _DASH if math.isnan(number) else f"{number:.{digits}f}"


def _interval(row: pd.Series, metric: str, digits: int) -> str:
    value = _number(row[metric], digits)
    low, high = float(row[f"{metric}_ci_low"]), float(row[f"{metric}_ci_high"])
    if value == _DASH or math.isnan(low) or math.isnan(high):
        return value
    return f"{value} [{low:.{digits}f}, {high:.{digits}f}]"


def _percent(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return _DASH if math.isnan(number) else f"{number:+.1%}"


def _rank(row: pd.Series, chosen: str | None, compare: str) -> int:
    if row["name"] == chosen:
        return 0
    if str(row["name"]).startswith(f"{compare}_"):
        return 1
    return 2 if row["kind"] == "model" else 3


def scorecard_tables(
    card: Scorecard,
    *,
    labels: Mapping[str, str] | None = None,
    compare: str = "champion",
    digits: int = 3,
) -> dict[str, pd.DataFrame]:
    """Return ``{"lapse": table, "spend": table}`` of text cells (module docstring).

    Parameters
    ----------
    card
        The scorecard.
    labels
        Row name -> what to call it (e.g. ``{"baseline_recency": "days since last purchase"}``);
        names without a label are shown as they are.
    compare
        Prefix of the champion's rows (``champion_lapse``), shown right after the model.
    digits
        Decimals of every value (the total spend error is a percentage with one decimal).
    """
    labels = dict(labels or {})
    out: dict[str, pd.DataFrame] = {}
    for task in ("lapse", "spend"):
        rows = card.table[card.table["task"] == task]
        if rows.empty:
            continue
        chosen = card.chosen.get(task)
        ordered = sorted(
            (row for _, row in rows.iterrows()),
            key=lambda row: _rank(row, chosen, compare),
        )
        records = []
        for row in ordered:
            name = str(row["name"])
            record = {"model": labels.get(name, name)}
            if task == "lapse":
                record["ROC AUC [95% interval]"] = _interval(row, "roc_auc", digits)
                record["Brier"] = _number(row["brier"], digits)
                record["top-decile lift"] = _number(row["top_decile_lift"], digits)
                record["PR AUC"] = _number(row["pr_auc"], digits)
            else:
                record["Spearman [95% interval]"] = _interval(row, "spearman", digits)
                record["Gini"] = _number(row["normalized_gini"], digits)
                record["total spend error"] = _percent(row["total_relative_error"])
                record["top-decile capture"] = _number(row["top_decile_capture"], digits)
            records.append(record)
        out[task] = pd.DataFrame(records)
    return out


def markdown_table(frame: pd.DataFrame, *, bold_first: bool = False, pad: bool = False) -> str:
    """Render a table of text cells as a Markdown table.

    ``bold_first`` sets the first row in bold; ``pad`` puts an en space (``&ensp;``) after
    every cell, for renderers that draw tables without cell padding (the MLflow UI's).
    """
    space = "&ensp;" if pad else ""
    columns = [f"{c}{space}" for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = [str(v).replace("|", "/") for v in row.tolist()]
        if bold_first and i == 0:
            cells = [f"**{c}**" if c not in (_DASH, "") else c for c in cells]
        lines.append("| " + " | ".join(f"{c}{space}" for c in cells) + " |")
    return "\n".join(lines)


def scorecard_markdown(
    card: Scorecard,
    *,
    labels: Mapping[str, str] | None = None,
    compare: str = "champion",
    digits: int = 3,
    titles: Mapping[str, str] | None = None,
) -> str:
    """Return the scorecard as Markdown: a title and a table per task, the model in bold.

    ``titles`` maps ``"lapse"`` / ``"spend"`` to the line above each table (default: the task).
    """
    tables = scorecard_tables(card, labels=labels, compare=compare, digits=digits)
    parts = []
    for task, frame in tables.items():
        title = (titles or {}).get(task, task)
        parts += [title, "", markdown_table(frame, bold_first=True, pad=True), ""]
    return "\n".join(parts).rstrip() + "\n"
