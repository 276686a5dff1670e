"""The MLflow side of the export: the only module that imports MLflow (lazily, when it is constructed).

Every method reads before it writes and writes only what differs, so running the export twice changes
nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodelver import advice
from gitmodelver.errors import UsageError
from gitmodelver.interop.mlflow_plan import MANAGED_ALIASES, SHA_KEY, TAG_KEY, PromptSpec, VersionSpec


@dataclass
class Changes:
    """What an export did, for the report (all empty: the registry already said it all)."""

    versions: list[str] = field(default_factory=list)  # release tags registered now
    prompts: list[str] = field(default_factory=list)  # prompts:/NAME/N registered now
    tags: list[str] = field(default_factory=list)  # "TAG: key" of tags set on existing versions
    aliases: list[str] = field(default_factory=list)  # "@alias -> TAG" set or moved, "@alias removed"


def _client(uri: str) -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise UsageError(
            "MLflow is not installed: the export needs it",
            fix=advice.command("python", "-m", "pip", "install", "gitmodelver[mlflow]"),
        ) from exc
    # Linking prompts reads the logged model through MLflow's default store: point it here too.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


class Registry:
    def __init__(self, uri: str, model: str, artifact_location: str | None = None) -> None:
        self.client = _client(uri)
        self.model = model
        self.artifact_location = artifact_location
        self.changes = Changes()

    def ensure_model(self, description: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model)
        except MlflowException:
            self.client.create_registered_model(
                self.model, tags={"modelver.system": self.model}, description=description
            )

    def versions(self) -> dict[str, Any]:
        """Release tag -> the model version exported for it."""
        found = self.client.search_model_versions(f"name='{self.model}'")
        return {v.tags[TAG_KEY]: v for v in found if TAG_KEY in (v.tags or {})}

    def _experiment(self) -> str:
        name = f"modelver/{self.model}"
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=self.artifact_location))

    def prompt(self, spec: PromptSpec, release: str) -> str:
        """The prompt version holding ``spec.text`` (registered now when none does): ``prompts:/NAME/N``."""
        if self.client.get_prompt(spec.name) is not None:
            for version in self.client.search_prompt_versions(spec.name):
                if (version.tags or {}).get(SHA_KEY) == spec.sha256 and version.template == spec.text:
                    return f"prompts:/{spec.name}/{version.version}"
        made = self.client.register_prompt(
            name=spec.name,
            template=spec.text,
            commit_message=f"{release}: prompts.{spec.key}",
            tags={SHA_KEY: spec.sha256, "modelver.release": release, "modelver.key": spec.key},
        )
        uri = f"prompts:/{spec.name}/{made.version}"
        self.changes.prompts.append(uri)
        return uri

    def add_version(self, spec: VersionSpec, weights: Path | None = None) -> None:
        """A logged model for the release (params: the weights it references; prompts linked to it), and
        the registered model's version pointing at it. ``weights``: a folder of the weights' files, laid
        out by their paths in the repository, copied in as the logged model's artifacts."""
        prompts = {p.key: self.prompt(p, spec.tag) for p in spec.prompts}
        logged = self.client.create_logged_model(
            self._experiment(), name=self.model, tags={TAG_KEY: spec.tag}, params=spec.weights or None
        )
        if weights is not None:
            self.client.log_model_artifacts(logged.model_id, str(weights))
        for uri in prompts.values():
            name, version = uri.removeprefix("prompts:/").rsplit("/", 1)
            self.client.link_prompt_version_to_model(name, version, logged.model_id)
        self.client.finalize_logged_model(logged.model_id, "READY")
        tags = {**spec.tags, **{f"modelver.prompt.{k}": uri for k, uri in prompts.items()}}
        tags.update({f"modelver.weights.{k}": v for k, v in spec.weights.items()})
        self.client.create_model_version(
            self.model,
            source=f"models:/{logged.model_id}",
            tags=tags,
            description=spec.description,
            model_id=logged.model_id,
        )
        self.changes.versions.append(spec.tag)

    def sync_tags(self, version: Any, tags: dict[str, str]) -> None:
        """Tags that changed since the last export (a signature verified now, say), set again."""
        have = version.tags or {}
        for key, value in tags.items():
            if have.get(key) != value:
                self.client.set_model_version_tag(self.model, version.version, key, value)
                self.changes.tags.append(f"{have.get(TAG_KEY)}: {key}")

    def sync_aliases(self, wanted: dict[str, str], versions: dict[str, Any]) -> None:
        """Aliases as the ledger says; an alias this tool set that no environment holds any more goes."""
        model = self.client.get_registered_model(self.model)
        current = {a: str(v) for a, v in (model.aliases or {}).items()}
        managed = set(json.loads((model.tags or {}).get(MANAGED_ALIASES, "[]")))
        for alias, tag in sorted(wanted.items()):
            number = str(versions[tag].version)
            if current.get(alias) != number:
                self.client.set_registered_model_alias(self.model, alias, number)
                self.changes.aliases.append(f"@{alias} -> {tag}")
        for alias in sorted(managed - set(wanted)):
            if alias in current:
                self.client.delete_registered_model_alias(self.model, alias)
                self.changes.aliases.append(f"@{alias} removed")
        listed = json.dumps(sorted(wanted))
        if (model.tags or {}).get(MANAGED_ALIASES) != listed:
            self.client.set_registered_model_tag(self.model, MANAGED_ALIASES, listed)
