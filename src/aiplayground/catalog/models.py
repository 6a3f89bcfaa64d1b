"""The model catalog: entries, versions, aliases, trust and remote endpoints."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal
from aiplayground.catalog.archive import expand_archives
from aiplayground.catalog.endpoints import EndpointService
from aiplayground.catalog.entries import EntryRegistry, public_files
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.formats import check_model_files
from aiplayground.catalog.schemas import (
    ALIAS_PATTERN,
    EndpointCreate,
    EndpointInfo,
    FileEntry,
    Lineage,
    ModelCreate,
    ModelFormat,
    ModelInfo,
    ModelUpdate,
    ModelVersionInfo,
    Objective,
    Page,
    Signature,
    VersionMetadata,
    Visibility,
)
from aiplayground.errors import Conflict, InvalidInput, NotFound, ValidationFailed
from aiplayground.settings import LimitSettings
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database
from aiplayground.store.tables import Model, ModelAlias, ModelVersion

DEFAULT_ALIAS = "production"


class ModelCatalog:
    """Models and their versions, with owner checks on every call."""

    def __init__(
        self,
        db: Database,
        storage: ArtifactStore,
        limits: LimitSettings,
        staging: Path,
        endpoints: EndpointService | None = None,
    ) -> None:
        self.db = db
        self.limits = limits
        self.staging = staging
        self.endpoints = endpoints
        self.registry: EntryRegistry[Model, ModelVersion] = EntryRegistry(
            db,
            storage,
            kind="model",
            entry_table=Model,
            version_table=ModelVersion,
            max_upload_bytes=limits.max_upload_bytes,
        )

    # entries ---------------------------------------------------------------------------

    def create(self, caller: Principal, spec: ModelCreate) -> ModelInfo:
        """Create a model entry; versions come with uploads."""
        caller.require_write()
        if spec.format is ModelFormat.REMOTE:
            raise InvalidInput("register remote models with the endpoint registration instead")
        with self.db.session() as s:
            self.registry.ensure_free(s, spec.name)
            model = Model(owner_id=caller.user_id, **spec.model_dump(mode="json"))
            s.add(model)
            s.flush()
            return self._info(s, model)

    def search(
        self,
        caller: Principal,
        *,
        q: str | None = None,
        objective: Objective | None = None,
        format: ModelFormat | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ModelInfo]:
        """Visible models matching the filters, newest first."""
        where = []
        if objective:
            where.append(Model.objective == objective.value)
        if format:
            where.append(Model.format == format.value)
        with self.db.session() as s:
            rows, total = self.registry.page(
                s, caller, q=q, tag=tag, limit=limit, offset=offset, where=where
            )
            return Page(items=[self._info(s, m) for m in rows], total=total)

    def get(self, caller: Principal, name: str) -> ModelInfo:
        """One model by name."""
        with self.db.session() as s:
            return self._info(s, self.registry.load(s, caller, name))

    def update(self, caller: Principal, name: str, patch: ModelUpdate) -> ModelInfo:
        """Change a model's description, tags, visibility, serving settings or trust."""
        changes = patch.model_dump(mode="json", exclude_unset=True)
        if "trusted" in changes:
            caller.require_admin()
        with self.db.session() as s:
            model = self.registry.load(s, caller, name, change=True)
            for key, value in changes.items():
                setattr(model, key, value)
            s.flush()
            return self._info(s, model)

    def delete(self, caller: Principal, name: str) -> None:
        """Delete a model, its versions and their artifacts."""
        self.registry.delete(caller, name)

    # versions --------------------------------------------------------------------------

    def add_version(
        self, caller: Principal, name: str, files: list[IncomingFile], meta: VersionMetadata
    ) -> ModelVersionInfo:
        """Check and store uploaded files as the model's next version."""
        if not files:
            raise ValidationFailed("a version needs at least one file", details={"field": "file"})
        with self.db.session() as s:
            model = self.registry.load(s, caller, name, change=True)
            if model.format == ModelFormat.REMOTE:
                raise Conflict(f"model {name!r} is a remote endpoint; it has no uploaded versions")
            fmt, trusted = ModelFormat(model.format), model.trusted
        workdir = Path(tempfile.mkdtemp(prefix="version-", dir=self.staging))
        try:
            if meta.extract:
                files = expand_archives(files, workdir, self.limits)
            detected = check_model_files(fmt, [(f.name, f.path) for f in files], trusted=trusted)

            def build(s: Session, model: Model, stored: list[FileEntry]) -> dict[str, Any]:
                details = meta.model_dump(mode="json", exclude={"extract", "alias"})
                details["detected"] = detected
                return details

            model, version = self.registry.add_version(caller, name, files, build)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if meta.alias:
            self.set_alias(caller, name, meta.alias, version.number)
        return self.get_version(caller, name, version.number)

    def get_version(self, caller: Principal, name: str, number: int) -> ModelVersionInfo:
        """One version of a model."""
        with self.db.session() as s:
            model = self.registry.load(s, caller, name)
            version = self.registry.get_version(s, model, number)
            return self._version_info(s, model, version)

    def resolve(
        self, caller: Principal, name: str, version: int | str | None = None
    ) -> tuple[ModelInfo, ModelVersionInfo | None]:
        """The model and the version a request means: a number, an alias, or the default.

        The default is the `production` alias, else the latest version; remote models
        have no versions and resolve to None.
        """
        with self.db.session() as s:
            model = self.registry.load(s, caller, name)
            info = self._info(s, model)
            if model.format == ModelFormat.REMOTE:
                return info, None
            number = self._pick(s, model, info, version)
            return info, self._version_info(s, model, self.registry.get_version(s, model, number))

    def _pick(self, s: Session, model: Model, info: ModelInfo, version: int | str | None) -> int:
        if isinstance(version, int) or (isinstance(version, str) and version.isdigit()):
            return int(version)
        if version:
            if version not in info.aliases:
                raise NotFound(f"model {model.name!r} has no alias {version!r}")
            return info.aliases[version]
        if DEFAULT_ALIAS in info.aliases:
            return info.aliases[DEFAULT_ALIAS]
        if info.latest_version is None:
            raise NotFound(f"model {model.name!r} has no versions yet")
        return info.latest_version

    def set_alias(self, caller: Principal, name: str, alias: str, number: int) -> ModelInfo:
        """Point an alias (production, staging, ...) at a version."""
        if not re.match(ALIAS_PATTERN, alias) or alias.isdigit():
            raise ValidationFailed(f"invalid alias {alias!r}", details={"field": "alias"})
        with self.db.session() as s:
            model = self.registry.load(s, caller, name, change=True)
            self.registry.get_version(s, model, number)
            row = s.get(ModelAlias, (model.id, alias))
            if row is None:
                s.add(ModelAlias(model_id=model.id, alias=alias, version=number))
            else:
                row.version = number
            s.flush()
            return self._info(s, model)

    def delete_alias(self, caller: Principal, name: str, alias: str) -> ModelInfo:
        """Remove an alias."""
        with self.db.session() as s:
            model = self.registry.load(s, caller, name, change=True)
            gone = s.execute(
                delete(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
            )
            if not gone.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return self._info(s, model)

    def open_file(
        self, caller: Principal, name: str, number: int, path: str
    ) -> tuple[Any, FileEntry]:
        """Open one file of a version for download."""
        return self.registry.open_file(caller, name, number, path)

    def stored_files(self, caller: Principal, name: str, number: int) -> list[FileEntry]:
        """The stored files of a version, with their keys (for model runtimes)."""
        with self.db.session() as s:
            model = self.registry.load(s, caller, name)
            version = self.registry.get_version(s, model, number)
            return [FileEntry.model_validate(f) for f in version.files]

    # remote endpoints ------------------------------------------------------------------

    def register_endpoint(self, caller: Principal, spec: EndpointCreate) -> ModelInfo:
        """Register a remote KServe or OpenAI-compatible endpoint as a catalog model."""
        caller.require_write()
        if self.endpoints is None:
            raise InvalidInput("remote endpoints are not configured on this server")
        url = self.endpoints.validate_url(spec.url, caller)
        if spec.check:
            self.endpoints.check(url, spec.protocol, spec.remote_name or spec.name, spec.api_key)
        endpoint = {
            "url": url,
            "protocol": spec.protocol.value,
            "remote_name": spec.remote_name,
            "api_key": self.endpoints.seal(spec.api_key) if spec.api_key else None,
        }
        with self.db.session() as s:
            self.registry.ensure_free(s, spec.name)
            model = Model(
                owner_id=caller.user_id,
                name=spec.name,
                title=spec.title,
                objective=spec.objective.value,
                format=ModelFormat.REMOTE.value,
                description=spec.description,
                tags=spec.tags,
                visibility=spec.visibility.value,
                endpoint=endpoint,
            )
            s.add(model)
            s.flush()
            return self._info(s, model)

    def endpoint_api_key(self, caller: Principal, name: str) -> str | None:
        """The decrypted API key of a remote model the caller can see, if it has one."""
        with self.db.session() as s:
            model = self.registry.load(s, caller, name)
            sealed = (model.endpoint or {}).get("api_key")
        if not sealed or self.endpoints is None:
            return None
        return self.endpoints.unseal(sealed)

    # rendering -------------------------------------------------------------------------

    def _info(self, s: Session, model: Model) -> ModelInfo:
        numbers = self.registry.version_numbers(s, model)
        aliases = {
            a.alias: a.version
            for a in s.scalars(select(ModelAlias).where(ModelAlias.model_id == model.id))
        }
        endpoint = None
        if model.endpoint:
            endpoint = EndpointInfo(
                url=model.endpoint["url"],
                protocol=model.endpoint["protocol"],
                remote_name=model.endpoint.get("remote_name"),
                has_api_key=bool(model.endpoint.get("api_key")),
            )
        return ModelInfo(
            name=model.name,
            owner=self.registry.owner_name(s, model),
            title=model.title or model.name,
            objective=Objective(model.objective),
            format=ModelFormat(model.format),
            description=model.description,
            tags=model.tags,
            visibility=Visibility(model.visibility),
            trusted=model.trusted,
            endpoint=endpoint,
            serving=model.serving,
            latest_version=numbers[-1] if numbers else None,
            versions=numbers,
            aliases=aliases,
            created_at=model.created_at,
            updated_at=model.updated_at,
        )

    def _version_info(self, s: Session, model: Model, version: ModelVersion) -> ModelVersionInfo:
        details = version.details
        aliases = sorted(
            s.scalars(
                select(ModelAlias.alias).where(
                    ModelAlias.model_id == model.id, ModelAlias.version == version.number
                )
            )
        )
        return ModelVersionInfo(
            model=model.name,
            version=version.number,
            status=version.status,
            files=public_files(version.files),
            signature=Signature.model_validate(details["signature"])
            if details.get("signature")
            else None,
            example=details.get("example"),
            metrics=details.get("metrics", {}),
            lineage=Lineage.model_validate(details["lineage"]) if details.get("lineage") else None,
            params=details.get("params", {}),
            description=details.get("description", ""),
            aliases=aliases,
            detected=details.get("detected", {}),
            created_at=version.created_at,
        )
