"""Prompt templates in the database: named per owner, shareable, versioned, checked on save."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal
from aiplayground.catalog.schemas import Page, Visibility
from aiplayground.chat.schemas import (
    TemplateCreate,
    TemplateInfo,
    TemplateUpdate,
    TemplateVersionInfo,
)
from aiplayground.chat.templates import normalize_template
from aiplayground.errors import Conflict, NotFound, PermissionDenied
from aiplayground.store.chat_tables import PromptTemplate, PromptTemplateVersion
from aiplayground.store.db import Database
from aiplayground.store.tables import User


class TemplateStore:
    """Prompt templates with owner checks on every call (another user's private one: 404)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, caller: Principal, spec: TemplateCreate) -> TemplateInfo:
        """Create a template and its version 1."""
        caller.require_write()
        messages = normalize_template(spec.messages)
        with self.db.session() as s:
            taken = s.scalar(
                select(PromptTemplate.id).where(
                    PromptTemplate.owner_id == caller.user_id, PromptTemplate.name == spec.name
                )
            )
            if taken:
                raise Conflict(f"you already have a template named {spec.name!r}")
            row = PromptTemplate(
                owner_id=caller.user_id,
                name=spec.name,
                description=spec.description,
                visibility=spec.visibility.value,
            )
            s.add(row)
            s.flush()
            s.add(PromptTemplateVersion(template_id=row.id, number=1, messages=messages))
            s.flush()
            return self._info(s, row)

    def search(
        self, caller: Principal, *, q: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[TemplateInfo]:
        """The caller's templates and public ones, by name."""
        where = [
            or_(PromptTemplate.owner_id == caller.user_id, PromptTemplate.visibility == "public")
        ]
        if q:
            where.append(PromptTemplate.name.contains(q.lower()))
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(PromptTemplate).where(*where)) or 0
            rows = s.scalars(
                select(PromptTemplate)
                .where(*where)
                .order_by(PromptTemplate.name, PromptTemplate.id)
                .limit(limit)
                .offset(offset)
            )
            return Page(items=[self._info(s, r) for r in rows], total=total)

    def get(self, caller: Principal, template_id: str) -> TemplateInfo:
        """One visible template with its latest content."""
        with self.db.session() as s:
            return self._info(s, self._load(s, caller, template_id))

    def update(self, caller: Principal, template_id: str, patch: TemplateUpdate) -> TemplateInfo:
        """Change description or visibility."""
        with self.db.session() as s:
            row = self._load(s, caller, template_id, change=True)
            if patch.description is not None:
                row.description = patch.description
            if patch.visibility is not None:
                row.visibility = patch.visibility.value
            s.flush()
            return self._info(s, row)

    def delete(self, caller: Principal, template_id: str) -> None:
        """Delete a template and its versions (conversations using it fall back to none)."""
        with self.db.session() as s:
            s.delete(self._load(s, caller, template_id, change=True))

    def add_version(self, caller: Principal, template_id: str, raw: object) -> TemplateVersionInfo:
        """Check and store new content as the next version."""
        messages = normalize_template(raw)
        with self.db.session() as s:
            row = self._load(s, caller, template_id, change=True)
            number = (self._numbers(s, row.id) or [0])[-1] + 1
            version = PromptTemplateVersion(template_id=row.id, number=number, messages=messages)
            s.add(version)
            s.flush()
            return _version_info(version)

    def get_version(self, caller: Principal, template_id: str, number: int) -> TemplateVersionInfo:
        """One version of a visible template."""
        with self.db.session() as s:
            row = self._load(s, caller, template_id)
            return _version_info(self._version(s, row, number))

    def messages(
        self, caller: Principal, template_id: str, number: int | None = None
    ) -> list[dict[str, str]]:
        """The content of a version (the latest when number is None), for rendering."""
        with self.db.session() as s:
            row = self._load(s, caller, template_id)
            if number is None:
                number = self._numbers(s, row.id)[-1]
            return list(self._version(s, row, number).messages)

    # helpers -----------------------------------------------------------------------------

    def _load(
        self, s: Session, caller: Principal, template_id: str, *, change: bool = False
    ) -> PromptTemplate:
        row = s.get(PromptTemplate, template_id)
        if row is None or not caller.can_see(row.owner_id, row.visibility):
            raise NotFound(f"no prompt template {template_id!r}")
        if change:
            caller.require_write()
            if not caller.can_change(row.owner_id):
                raise PermissionDenied("only the template's owner can change it")
        return row

    def _numbers(self, s: Session, template_id: str) -> list[int]:
        return list(
            s.scalars(
                select(PromptTemplateVersion.number)
                .where(PromptTemplateVersion.template_id == template_id)
                .order_by(PromptTemplateVersion.number)
            )
        )

    def _version(self, s: Session, row: PromptTemplate, number: int) -> PromptTemplateVersion:
        version = s.scalar(
            select(PromptTemplateVersion).where(
                PromptTemplateVersion.template_id == row.id,
                PromptTemplateVersion.number == number,
            )
        )
        if version is None:
            raise NotFound(f"template {row.name!r} has no version {number}")
        return version

    def _info(self, s: Session, row: PromptTemplate) -> TemplateInfo:
        numbers = self._numbers(s, row.id)
        latest = self._version(s, row, numbers[-1])
        owner = s.get(User, row.owner_id)
        return TemplateInfo(
            id=row.id,
            name=row.name,
            owner=owner.name if owner else "",
            description=row.description,
            visibility=Visibility(row.visibility),
            latest_version=numbers[-1],
            versions=numbers,
            messages=list(latest.messages),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _version_info(version: PromptTemplateVersion) -> TemplateVersionInfo:
    return TemplateVersionInfo(
        template_id=version.template_id,
        number=version.number,
        messages=list(version.messages),
        created_at=version.created_at,
    )
