"""The dataset catalog: entries and versions with a schema and a preview."""

from __future__ import annotations

import logging
import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal
from aiplayground.catalog.archive import expand_archives
from aiplayground.catalog.entries import EntryRegistry, public_files
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.preview import describe_dataset
from aiplayground.catalog.schemas import (
    DatasetCreate,
    DatasetFormat,
    DatasetInfo,
    DatasetRemoteVersion,
    DatasetUpdate,
    DatasetVersionInfo,
    DatasetVersionMetadata,
    FileEntry,
    Page,
    Visibility,
)
from aiplayground.errors import (
    MissingDependency,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from aiplayground.hep.remote import RemoteFiles
from aiplayground.settings import LimitSettings
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database
from aiplayground.store.tables import Dataset, DatasetVersion, utcnow

log = logging.getLogger(__name__)


class DatasetCatalog:
    """Datasets and their versions, with owner checks on every call."""

    def __init__(
        self,
        db: Database,
        storage: ArtifactStore,
        limits: LimitSettings,
        staging: Path,
        remote: RemoteFiles | None = None,
    ) -> None:
        self.db = db
        self.limits = limits
        self.staging = staging
        self.remote = remote
        self.registry: EntryRegistry[Dataset, DatasetVersion] = EntryRegistry(
            db,
            storage,
            kind="dataset",
            entry_table=Dataset,
            version_table=DatasetVersion,
            max_upload_bytes=limits.max_upload_bytes,
        )

    def create(self, caller: Principal, spec: DatasetCreate) -> DatasetInfo:
        """Create a dataset entry; versions come with uploads."""
        caller.require_write()
        with self.db.session() as s:
            self.registry.ensure_free(s, spec.name)
            dataset = Dataset(owner_id=caller.user_id, **spec.model_dump(mode="json"))
            s.add(dataset)
            s.flush()
            return self._info(s, dataset)

    def search(
        self,
        caller: Principal,
        *,
        q: str | None = None,
        format: DatasetFormat | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[DatasetInfo]:
        """Visible datasets matching the filters, newest first."""
        where = [Dataset.format == format.value] if format else []
        with self.db.session() as s:
            rows, total = self.registry.page(
                s, caller, q=q, tag=tag, limit=limit, offset=offset, where=where
            )
            return Page(items=[self._info(s, d) for d in rows], total=total)

    def get(self, caller: Principal, name: str) -> DatasetInfo:
        """One dataset by name."""
        with self.db.session() as s:
            return self._info(s, self.registry.load(s, caller, name))

    def update(self, caller: Principal, name: str, patch: DatasetUpdate) -> DatasetInfo:
        """Change a dataset's description, tags or visibility."""
        with self.db.session() as s:
            dataset = self.registry.load(s, caller, name, change=True)
            for key, value in patch.model_dump(mode="json", exclude_unset=True).items():
                setattr(dataset, key, value)
            s.flush()
            return self._info(s, dataset)

    def delete(self, caller: Principal, name: str) -> None:
        """Delete a dataset, its versions and their artifacts."""
        self.registry.delete(caller, name)

    def add_version(
        self,
        caller: Principal,
        name: str,
        files: list[IncomingFile],
        meta: DatasetVersionMetadata,
    ) -> DatasetVersionInfo:
        """Describe and store uploaded files as the dataset's next version."""
        if not files:
            raise ValidationFailed("a version needs at least one file", details={"field": "file"})
        with self.db.session() as s:
            fmt = DatasetFormat(self.registry.load(s, caller, name, change=True).format)
        workdir = Path(tempfile.mkdtemp(prefix="dataset-", dir=self.staging))
        try:
            if meta.extract:
                files = expand_archives(files, workdir, self.limits)
            description = describe_dataset(fmt, [(f.name, f.path) for f in files])

            def build(s: Session, dataset: Dataset, stored: list[FileEntry]) -> dict[str, Any]:
                return {
                    "description": meta.description,
                    "schema": description.schema,
                    "preview": description.preview,
                }

            _, version = self.registry.add_version(caller, name, files, build)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self.get_version(caller, name, version.number)

    def add_remote_version(
        self, caller: Principal, name: str, spec: DatasetRemoteVersion
    ) -> DatasetVersionInfo:
        """Record remote ROOT files (root://, https://) as the next version, after checking them.

        Each URL must pass the outbound policy and open as a ROOT file with at least one
        tree; nothing is copied: summaries read the files remotely, training jobs stream
        them into their folder. Network failures here are the caller's input problem (422).
        """
        if self.remote is None:
            raise MissingDependency("this server was built without remote dataset access")
        with self.db.session() as s:
            fmt = DatasetFormat(self.registry.load(s, caller, name, change=True).format)
        if fmt is not DatasetFormat.ROOT:
            raise ValidationFailed(
                f"remote versions hold ROOT files; dataset {name!r} is {fmt.value}",
                details={"field": "urls"},
            )
        files: list[FileEntry] = []
        trees: list[dict[str, Any]] = []
        for url in dict.fromkeys(u.strip() for u in spec.urls):
            entry, found = _check_remote(self.remote, url, {f.path for f in files})
            files.append(entry)
            trees = trees or found
        listing = [{"name": f.path, "size": f.size, "suffix": ".root", "url": f.url} for f in files]
        with self.db.session() as s:
            dataset = self.registry.load(s, caller, name, change=True)
            numbers = self.registry.version_numbers(s, dataset)
            version = DatasetVersion(
                dataset_id=dataset.id,
                number=(numbers[-1] + 1) if numbers else 1,
                files=[f.model_dump() for f in files],
                details={
                    "description": spec.description,
                    "schema": {"trees": trees, "file": files[0].path, "files": listing},
                    "preview": None,
                    "remote": True,
                },
                created_by=caller.user_id,
            )
            s.add(version)
            dataset.updated_at = version.created_at = utcnow()
            s.flush()
            number = version.number
        log.info(
            "remote dataset version recorded",
            extra={"user": caller.name, "dataset": name, "version": number, "files": len(files)},
        )
        return self.get_version(caller, name, number)

    def get_version(self, caller: Principal, name: str, number: int) -> DatasetVersionInfo:
        """One version of a dataset."""
        with self.db.session() as s:
            dataset = self.registry.load(s, caller, name)
            version = self.registry.get_version(s, dataset, number)
            return DatasetVersionInfo(
                dataset=dataset.name,
                version=version.number,
                status=version.status,
                files=public_files(version.files),
                schema_=version.details.get("schema", {}),
                preview=version.details.get("preview"),
                description=version.details.get("description", ""),
                created_at=version.created_at,
            )

    def latest_version(self, caller: Principal, name: str) -> int:
        """The newest version number of a dataset."""
        info = self.get(caller, name)
        if info.latest_version is None:
            raise ValidationFailed(f"dataset {name!r} has no versions yet")
        return info.latest_version

    def stored_files(self, caller: Principal, name: str, number: int) -> list[FileEntry]:
        """The stored files of a version, with their keys (for training jobs)."""
        with self.db.session() as s:
            dataset = self.registry.load(s, caller, name)
            version = self.registry.get_version(s, dataset, number)
            return [FileEntry.model_validate(f) for f in version.files]

    def open_file(
        self, caller: Principal, name: str, number: int, path: str
    ) -> tuple[Any, FileEntry]:
        """Open one file of a version for download (a remote one is read from its URL)."""
        for entry in self.stored_files(caller, name, number):
            if entry.path == path and entry.url is not None:
                if self.remote is None:
                    raise MissingDependency("this server was built without remote dataset access")
                return self.remote.open(entry.url), entry
        return self.registry.open_file(caller, name, number, path)

    def _info(self, s: Session, dataset: Dataset) -> DatasetInfo:
        numbers = self.registry.version_numbers(s, dataset)
        return DatasetInfo(
            name=dataset.name,
            owner=self.registry.owner_name(s, dataset),
            title=dataset.title or dataset.name,
            format=DatasetFormat(dataset.format),
            description=dataset.description,
            tags=dataset.tags,
            visibility=Visibility(dataset.visibility),
            latest_version=numbers[-1] if numbers else None,
            versions=numbers,
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
        )


def _check_remote(
    remote: RemoteFiles, url: str, taken: set[str]
) -> tuple[FileEntry, list[dict[str, Any]]]:
    """A remote file's entry (path unique among `taken`) and its trees, or a 4xx."""
    from aiplayground.hep.reader import describe

    checked = remote.check(url)
    try:
        with remote.open(checked.url) as reader:
            size = reader.size
        trees = describe(checked.url, remote)
    except (UpstreamError, UpstreamTimeout) as exc:
        # At registration an unreachable URL is the caller's input problem, not ours.
        raise ValidationFailed(exc.message, details=exc.details) from exc
    if not trees:
        raise ValidationFailed(f"{checked.url} holds no TTree or RNTuple")
    path = checked.name
    stem, suffix = posixpath.splitext(path)
    counter = 2
    while path in taken:
        path, counter = f"{stem}-{counter}{suffix}", counter + 1
    # The key names no artifact (nothing is stored): deleting the version is a no-op.
    key = f"datasets/remote/{uuid4().hex}"
    entry = FileEntry(path=path, key=key, size=size, sha256="", url=checked.url)
    return entry, trees
