"""Composition root: settings -> stores -> services -> one ASGI app."""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from aiplayground import __version__
from aiplayground.api.errors import install_error_handlers
from aiplayground.api.middleware import BodyLimitMiddleware, MetricsMiddleware
from aiplayground.auth.service import AuthService
from aiplayground.catalog.datasets import DatasetCatalog
from aiplayground.catalog.endpoints import EndpointService, load_or_create_secret
from aiplayground.catalog.models import ModelCatalog
from aiplayground.chat.service import ChatService
from aiplayground.hep.remote import RemoteFiles
from aiplayground.inference.service import InferenceService
from aiplayground.metrics import Metrics
from aiplayground.net import UrlPolicy
from aiplayground.rag.chat import KnowledgeRetriever
from aiplayground.rag.service import KnowledgeBaseService
from aiplayground.settings import Settings
from aiplayground.storage import ArtifactStore, open_artifact_store
from aiplayground.store.db import Database
from aiplayground.store.migrate import migrate
from aiplayground.training.service import TrainingService

log = logging.getLogger(__name__)

STALE_STAGING_S = 3600


@dataclass
class Platform:
    """Every service of one running platform, built once and passed down."""

    settings: Settings
    db: Database
    storage: ArtifactStore
    auth: AuthService
    models: ModelCatalog
    datasets: DatasetCatalog
    endpoints: EndpointService
    inference: InferenceService
    chat: ChatService
    training: TrainingService
    knowledge: KnowledgeBaseService
    metrics: Metrics = field(default_factory=Metrics)
    draining: bool = False
    login_url: str | None = None

    @property
    def staging(self) -> Path:
        """Local folder for uploads in flight (emptied at start)."""
        return self.settings.resolved_home / "staging"

    def start(self) -> None:
        """Bring the stores up to date and create the first admin if there is none."""
        migrate(self.db.engine)
        self.storage.cleanup_temp()
        self.knowledge.start()
        self.staging.mkdir(parents=True, exist_ok=True)
        # Uploads interrupted by a crash left staged parts here; no row points at them.
        # Only stale ones go: another server process may share this data folder.
        cutoff = time.time() - STALE_STAGING_S
        for leftover in self.staging.iterdir():
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        secret = self.auth.bootstrap_admin()
        if self.settings.demo:
            from aiplayground.demo import load_demo

            load_demo(self)
        if secret:
            self.login_url = f"{self.settings.public_url}/auth/link/{secret}"
            # Printed, not only logged: like Jupyter, the operator copies it from the console.
            print(
                "\n    No users yet. Open this one-time link to log in as 'admin':\n"
                f"    {self.login_url}\n",
                flush=True,
            )

    def close(self) -> None:
        """Stop model worker processes and release connections."""
        self.chat.close()
        self.knowledge.close()
        self.db.dispose()


def build_platform(settings: Settings) -> Platform:
    """Build the stores and services for these settings (no I/O beyond opening them)."""
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    db = Database.from_url(settings.resolved_database_url)
    storage = open_artifact_store(settings.resolved_storage_url, settings.storage)
    auth = AuthService(
        db,
        session_lifetime=timedelta(hours=settings.server.session_hours),
        token_cache_s=settings.server.token_cache_s,
    )
    home = settings.resolved_home
    endpoints = EndpointService(
        UrlPolicy(settings.network.allowed_hosts),
        load_or_create_secret(home / "secret.key"),
        timeout=settings.network.timeout_s,
    )
    staging = home / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    models = ModelCatalog(db, storage, settings.limits, staging, endpoints)
    remote_files = RemoteFiles(
        endpoints.policy,
        timeout=settings.network.timeout_s,
        max_copy_bytes=settings.limits.max_upload_bytes,
    )
    datasets = DatasetCatalog(db, storage, settings.limits, staging, remote_files)
    inference = InferenceService(
        models,
        storage,
        settings.inference,
        cache_dir=home / "cache" / "models",
        endpoints=endpoints,
        remote_timeout_s=settings.network.timeout_s,
    )
    knowledge = KnowledgeBaseService(db, storage, settings, endpoints)
    chat = ChatService(db, models, storage, endpoints, settings)
    chat.retriever = KnowledgeRetriever(knowledge)
    return Platform(
        settings=settings,
        db=db,
        storage=storage,
        auth=auth,
        models=models,
        inference=inference,
        chat=chat,
        knowledge=knowledge,
        datasets=datasets,
        training=TrainingService(
            db,
            settings.training,
            datasets,
            storage=storage,
            jobs_root=settings.resolved_home / "jobs",
        ),
        endpoints=endpoints,
    )


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    """The ASGI app: REST, protocol routes and (optionally) the UI, over one platform."""
    platform = platform or build_platform(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        platform.start()
        await platform.inference.start()
        # What start-up built (modules, routes, the UI, the services) lives as long as the
        # server: kept out of the collector's full passes, each of which otherwise scanned
        # it all and stalled every request for ~120 ms (the p99 of small requests).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            platform.draining = True
            await platform.inference.stop()
            platform.close()
            gc.unfreeze()  # one process may run several apps (tests): let them be collected

    app = FastAPI(
        title="AI Playground",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.platform = platform
    install_error_handlers(app)
    _include_routers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.limits.max_request_bytes,
        # The UI's uploads carry one file each; multipart framing needs a little more.
        prefix_limits={"/_nicegui/": settings.limits.max_upload_bytes + 1024 * 1024},
    )
    app.add_middleware(MetricsMiddleware, metrics=platform.metrics)
    if settings.server.ui:
        from aiplayground.ui import mount_ui

        mount_ui(app, platform)
    return app


def _include_routers(app: FastAPI) -> None:
    from aiplayground.api.routes import (
        accounts,
        catalog,
        chat,
        embeddings,
        health,
        hep,
        inference,
        jobs,
        knowledge,
        openai,
        session,
    )

    # The data planes first: they are the hot paths, and routes are matched in order.
    for module in (
        inference,
        openai,
        embeddings,
        health,
        session,
        accounts,
        catalog,
        chat,
        jobs,
        knowledge,
        hep,
    ):
        router: Any = module.router
        app.include_router(router)
