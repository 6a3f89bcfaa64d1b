"""What models and datasets share: ownership, visibility, listing, versions and their files."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.files import IncomingFile, unique_paths
from aiplayground.catalog.schemas import FileEntry, PublicFile
from aiplayground.errors import Conflict, NotFound, PermissionDenied
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database
from aiplayground.store.tables import Dataset, DatasetVersion, Model, ModelVersion, User, utcnow

log = logging.getLogger(__name__)

E = TypeVar("E", Model, Dataset)
V = TypeVar("V", ModelVersion, DatasetVersion)

MAX_PAGE = 500
# Attempts at numbering a new version when concurrent uploads race for the same number.
NUMBERING_TRIES = 8


class EntryRegistry(Generic[E, V]):
    """Owner-checked access to one kind of catalog entry and its versions."""

    def __init__(
        self,
        db: Database,
        storage: ArtifactStore,
        *,
        kind: str,
        entry_table: type[E],
        version_table: type[V],
        max_upload_bytes: int,
    ) -> None:
        self.db = db
        self.storage = storage
        self.kind = kind
        self.entry_table: type[E] = entry_table
        self.version_table: type[V] = version_table
        self.max_upload_bytes = max_upload_bytes

    # access ----------------------------------------------------------------------------

    def load(self, s: Session, caller: Principal, name: str, *, change: bool = False) -> E:
        """The entry by name; NotFound when missing or invisible, 403 when read-only."""
        entry: E | None = s.scalar(select(self.entry_table).where(self.entry_table.name == name))
        if entry is None or not caller.can_see(entry.owner_id, entry.visibility):
            raise NotFound(f"no {self.kind} named {name!r}")
        if change:
            caller.require_write()
            if not caller.can_change(entry.owner_id):
                raise PermissionDenied(
                    f"only the owner or an admin can change {self.kind} {name!r}"
                )
        return entry

    def ensure_free(self, s: Session, name: str) -> None:
        """Raise Conflict when the name is taken (names are unique platform-wide)."""
        if s.scalar(select(self.entry_table.id).where(self.entry_table.name == name)):
            raise Conflict(f"a {self.kind} named {name!r} already exists")

    def owner_name(self, s: Session, entry: E) -> str:
        """The name of the entry's owner."""
        return s.scalar(select(User.name).where(User.id == entry.owner_id)) or "?"

    # listing ---------------------------------------------------------------------------

    def page(
        self,
        s: Session,
        caller: Principal,
        *,
        q: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
        where: Iterable[Any] = (),
    ) -> tuple[list[E], int]:
        """One page of visible entries, newest first, with the total count."""
        table = self.entry_table
        query = select(table)
        if caller.role is not Role.ADMIN:
            query = query.where(or_(table.visibility == "public", table.owner_id == caller.user_id))
        if q:
            pattern = f"%{q.strip().lower()}%"
            query = query.where(
                or_(
                    func.lower(table.name).like(pattern),
                    func.lower(table.title).like(pattern),
                    func.lower(table.description).like(pattern),
                )
            )
        if tag:
            # JSON is text on SQLite and renders as text on PostgreSQL: one portable filter.
            query = query.where(cast(table.tags, String).like(f'%"{tag}"%'))
        for condition in where:
            query = query.where(condition)
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = s.scalars(
            query.order_by(table.updated_at.desc(), table.name)
            .limit(max(1, min(limit, MAX_PAGE)))
            .offset(max(0, offset))
        )
        return list(rows), int(total)

    # versions --------------------------------------------------------------------------

    def version_numbers(self, s: Session, entry: E) -> list[int]:
        """The entry's version numbers, ascending."""
        column = getattr(self.version_table, self.fk)
        return list(
            s.scalars(
                select(self.version_table.number)
                .where(column == entry.id)
                .order_by(self.version_table.number)
            )
        )

    def get_version(self, s: Session, entry: E, number: int) -> V:
        """One version of the entry."""
        column = getattr(self.version_table, self.fk)
        version: V | None = s.scalar(
            select(self.version_table).where(
                column == entry.id, self.version_table.number == number
            )
        )
        if version is None:
            raise NotFound(f"{self.kind} {entry.name!r} has no version {number}")
        return version

    @property
    def fk(self) -> str:
        """The version table's column that points at the entry."""
        return f"{self.kind}_id"

    def store_files(self, entry: E, files: list[IncomingFile]) -> list[FileEntry]:
        """Copy staged files into the artifact store under fresh server-generated keys."""
        stored: list[FileEntry] = []
        try:
            for path, item in unique_paths(files):
                key = self.storage.new_key(f"{self.kind}s/{entry.id}")
                with item.path.open("rb") as stream:
                    info = self.storage.put_stream(key, stream, max_bytes=self.max_upload_bytes)
                stored.append(
                    FileEntry(path=path, key=info.key, size=info.size, sha256=info.sha256)
                )
        except BaseException:
            self.discard(stored)
            raise
        return stored

    def discard(self, files: Iterable[FileEntry]) -> None:
        """Delete stored files (used when the version row could not be written)."""
        for item in files:
            self.storage.delete(item.key)

    def add_version(
        self,
        caller: Principal,
        name: str,
        files: list[IncomingFile],
        build: Callable[[Session, E, list[FileEntry]], dict[str, Any]],
    ) -> tuple[E, V]:
        """Store files, then record a new version numbered after the last one.

        Artifacts are written before the row, so a crash leaves at worst unreferenced
        artifacts, never a row pointing at a missing or partial one.
        """
        with self.db.session() as s:
            entry = self.load(s, caller, name, change=True)
        stored = self.store_files(entry, files)
        try:
            for attempt in range(1, NUMBERING_TRIES + 1):
                try:
                    return self._record_version(caller, name, stored, build)
                except IntegrityError:
                    # Another upload took the same number at the same moment: number again.
                    if attempt == NUMBERING_TRIES:
                        raise
                    time.sleep(random.uniform(0.01, 0.05) * attempt)
            raise AssertionError("unreachable")
        except BaseException:
            self.discard(stored)
            raise

    def _record_version(
        self,
        caller: Principal,
        name: str,
        stored: list[FileEntry],
        build: Callable[[Session, E, list[FileEntry]], dict[str, Any]],
    ) -> tuple[E, V]:
        with self.db.session() as s:
            entry = self.load(s, caller, name, change=True)
            details = build(s, entry, stored)
            numbers = self.version_numbers(s, entry)
            version = self.version_table(
                number=(numbers[-1] + 1) if numbers else 1,
                files=[f.model_dump() for f in stored],
                details=details,
                created_by=caller.user_id,
                **{self.fk: entry.id},
            )
            s.add(version)
            entry.updated_at = version.created_at = utcnow()
            s.flush()
            return entry, version

    def delete(self, caller: Principal, name: str) -> None:
        """Delete the entry, its versions and every artifact they point at."""
        with self.db.session() as s:
            entry = self.load(s, caller, name, change=True)
            column = getattr(self.version_table, self.fk)
            keys = [
                f["key"]
                for files in s.scalars(select(self.version_table.files).where(column == entry.id))
                for f in files
            ]
            entry_id = entry.id
            s.delete(entry)
        for key in keys:
            self.storage.delete(key)
        # Sweep what a crashed upload may have left under this entry's prefix too.
        self.storage.delete_prefix(f"{self.kind}s/{entry_id}")

    def open_file(
        self, caller: Principal, name: str, number: int, path: str
    ) -> tuple[Any, FileEntry]:
        """Open one stored file of a version for reading."""
        with self.db.session() as s:
            entry = self.load(s, caller, name)
            version = self.get_version(s, entry, number)
        for item in version.files:
            if item["path"] == path:
                entry_file = FileEntry.model_validate(item)
                return self.storage.open(entry_file.key), entry_file
        raise NotFound(f"version {number} of {self.kind} {name!r} has no file {path!r}")


def public_files(files: list[dict[str, Any]]) -> list[PublicFile]:
    """Stored files without their storage keys."""
    return [
        PublicFile(path=f["path"], size=f["size"], sha256=f["sha256"], url=f.get("url"))
        for f in files
    ]
