"""The model registry: register a logged model, move the champion alias, find a model by URI.

Registry aliases (``models:/churnmodel@champion``) name the version to serve; stages are not
used (MLflow 3 deprecates them).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnmodel.exceptions import ConfigError
from churnmodel.tracking.promotion import PromotionDecision

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "Champion",
    "RegisteredVersion",
    "ResolvedModel",
    "apply_promotion",
    "find_champion",
    "register_version",
    "registry_overview",
    "resolve_model",
    "set_version_tags",
    "version_tags",
]

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version."""

    name: str
    version: str
    source: str


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI checked to exist, with what the registry says about it.

    ``name`` and ``version`` are set for ``models:/`` URIs; ``run_id`` when the registry or the
    run knows it.
    """

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None

    @property
    def label(self) -> str:
        """Short human-readable name: ``churnmodel v3 (@champion)`` or the URI."""
        if self.name is None:
            return self.uri
        alias = f" (@{self.alias})" if self.alias else ""
        return f"{self.name} v{self.version}{alias}"


@dataclass(frozen=True)
class Champion:
    """The version holding a registered model's alias, with its tags and its run's tags.

    ``tags`` are the version's tags over the tags of the run that logged it (older versions
    kept the dataset and fingerprint on the run only).
    """

    name: str
    version: str
    alias: str
    run_id: str | None
    tags: dict[str, str]

    @property
    def label(self) -> str:
        """``churnmodel v3``."""
        return f"{self.name} v{self.version}"

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


def _client(client: MlflowClient | None = None) -> MlflowClient:
    if client is not None:
        return client
    from mlflow import MlflowClient

    return MlflowClient()


_REGISTRY_CHATTER = ("Successfully registered model", "Registered model", "Created version")


def register_version(
    model_uri: str,
    name: str,
    *,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    client: MlflowClient | None = None,
) -> RegisteredVersion:
    """Register ``model_uri`` as a new version of ``name`` (created if needed)."""
    import mlflow

    c = _client(client)
    # MLflow prints "Successfully registered model ..." and "Created version ..." itself;
    # the caller reports the version. Anything else it prints is passed on.
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        version = mlflow.register_model(model_uri, name, tags=tags)
    for line in printed.getvalue().splitlines():
        if not line.startswith(_REGISTRY_CHATTER):
            print(line, file=sys.stderr)
    if description:
        c.update_model_version(name, version.version, description=description)
    return RegisteredVersion(name=name, version=str(version.version), source=str(version.source))


def apply_promotion(
    version: RegisteredVersion,
    decision: PromotionDecision,
    *,
    alias: str = "champion",
    client: MlflowClient | None = None,
) -> str | None:
    """Move ``alias`` to ``version`` when ``decision`` says so; record the outcome as tags.

    The version gets the tags ``promotion`` (``promoted`` / ``not promoted``) and
    ``promotion_reason``. Returns the version that held the alias before (or ``None``).
    """
    c = _client(client)
    previous: str | None
    try:
        previous = str(c.get_model_version_by_alias(version.name, alias).version)
    except Exception:  # MlflowException: no version holds the alias yet
        previous = None
    c.set_model_version_tag(
        version.name,
        version.version,
        "promotion",
        "promoted" if decision.promote else "not promoted",
    )
    c.set_model_version_tag(version.name, version.version, "promotion_reason", decision.summary)
    if decision.promote:
        c.set_registered_model_alias(version.name, alias, version.version)
    return previous


def find_champion(
    name: str, alias: str = "champion", client: MlflowClient | None = None
) -> Champion | None:
    """Return the version of ``name`` that holds ``alias``, or None if there is none."""
    from mlflow.exceptions import MlflowException

    c = _client(client)
    try:
        mv = c.get_model_version_by_alias(name, alias)
    except MlflowException:  # no such model, or no version holds the alias
        return None
    tags: dict[str, str] = {}
    if mv.run_id:
        # A deleted run: the version's tags still say enough.
        with contextlib.suppress(MlflowException):
            tags.update(c.get_run(mv.run_id).data.tags)
    tags.update(dict(mv.tags or {}))
    return Champion(
        name=name, version=str(mv.version), alias=alias, run_id=mv.run_id or None, tags=tags
    )


def set_version_tags(
    version: RegisteredVersion, tags: dict[str, str], client: MlflowClient | None = None
) -> None:
    """Set tags on a registered model version."""
    c = _client(client)
    for key, value in tags.items():
        c.set_model_version_tag(version.name, version.version, key, str(value))


def version_tags(name: str, version: str, client: MlflowClient | None = None) -> dict[str, str]:
    """Return the tags of a registered model version."""
    c = _client(client)
    return dict(c.get_model_version(name, version).tags or {})


def registry_overview(client: MlflowClient | None = None) -> str:
    """Describe every registered model with its aliases and latest version, on one line."""
    c = _client(client)
    lines = []
    for model in c.search_registered_models(max_results=100):
        aliases: dict[str, Any] = dict(getattr(model, "aliases", {}) or {})
        shown = ", ".join(f"@{a} -> v{v}" for a, v in sorted(aliases.items())) or "no aliases"
        versions = [int(v.version) for v in (model.latest_versions or [])]
        latest = f"latest v{max(versions)}" if versions else "no versions"
        lines.append(f"{model.name} ({shown}; {latest})")
    return "; ".join(lines) if lines else "none"


def _missing(uri: str, what: str, client: MlflowClient, tracking_uri: str) -> ConfigError:
    return ConfigError(
        f"model {uri!r} not found: {what} in the registry at {tracking_uri}. "
        f"Registered models: {registry_overview(client)}. "
        "Train one with 'churnmodel train', or pass --model with one of these "
        "(models:/<name>@<alias>, models:/<name>/<version>) or a model folder."
    )


def resolve_model(uri: str, client: MlflowClient | None = None) -> ResolvedModel:
    """Check that ``uri`` names a model that exists; say what does exist when it does not.

    Accepts ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/<id>/<path>``,
    ``models:/<model id>`` and a local model folder (one holding an ``MLmodel`` file).

    Raises
    ------
    ConfigError
        If the model, version or alias does not exist; the message lists the registered
        models and their aliases.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if not uri.startswith(("models:/", "runs:/")) and (Path(uri) / "MLmodel").is_file():
        # A model folder: no client, so no tracking store is opened (or created).
        return ResolvedModel(uri=str(Path(uri).resolve()))
    c = _client(client)
    tracking_uri = mlflow.get_tracking_uri()
    match = _MODELS_URI.match(uri)
    if match is not None:
        name, alias, number = match["name"], match["alias"], match["version"]
        try:
            c.get_registered_model(name)
        except MlflowException:
            raise _missing(uri, f"no registered model named {name!r}", c, tracking_uri) from None
        try:
            mv = (
                c.get_model_version_by_alias(name, alias)
                if alias is not None
                else c.get_model_version(name, number)
            )
        except MlflowException:
            what = f"alias @{alias}" if alias is not None else f"version {number}"
            raise _missing(uri, f"{name!r} has no {what}", c, tracking_uri) from None
        return ResolvedModel(
            uri=uri, name=name, version=str(mv.version), alias=alias, run_id=mv.run_id
        )
    if uri.startswith(("models:/", "runs:/")):
        from mlflow.models import get_model_info

        try:
            info = get_model_info(uri)
        except (MlflowException, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _missing(uri, first, c, tracking_uri) from None
        return ResolvedModel(uri=uri, run_id=info.run_id)
    path = Path(uri)
    if not (path / "MLmodel").is_file():
        raise ConfigError(
            f"model {uri!r} not found: not a models:/ or runs:/ URI and not a folder holding an "
            f"MLmodel file. Registered models in {tracking_uri}: {registry_overview(c)}"
        )
    return ResolvedModel(uri=str(path.resolve()))
