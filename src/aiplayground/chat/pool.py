"""Which provider serves a catalog model, opened once and kept (least recently used unloads).

The catalog decides access (`ModelCatalog.resolve` checks visibility); the format and
the endpoint protocol pick the provider: gguf -> embedded, huggingface -> transformers,
remote openai -> openai, remote kserve-v2 -> kserve_v2.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aiplayground.auth.principal import Principal
from aiplayground.catalog.models import ModelCatalog
from aiplayground.catalog.schemas import (
    FileEntry,
    ModelFormat,
    ModelInfo,
    ModelVersionInfo,
    Objective,
)
from aiplayground.chat.params import GenerationParams, parse_params
from aiplayground.chat.provider import LLMProvider
from aiplayground.errors import InvalidInput
from aiplayground.settings import Settings
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database
from aiplayground.store.tables import Model

log = logging.getLogger(__name__)

KNOWN = "gguf (embedded llama.cpp), huggingface (transformers), remote openai or kserve-v2"
LOCAL = ("embedded", "transformers")
RETIRE_WAIT_S = 600.0


@dataclass
class ServedModel:
    """A model resolved for one request: catalog entry, version, provider and its defaults."""

    info: ModelInfo
    version: ModelVersionInfo | None
    provider: LLMProvider
    defaults: GenerationParams


def serving_defaults(info: ModelInfo) -> GenerationParams:
    """The model's generation defaults (`serving.generation`)."""
    return parse_params(
        info.serving.get("generation"), f"the serving.generation settings of model {info.name!r}"
    )


class ProviderPool:
    """Open providers by model and version; local ones (worker processes) are bounded."""

    def __init__(
        self,
        db: Database,
        models: ModelCatalog,
        storage: ArtifactStore,
        endpoints: Any,
        settings: Settings,
    ) -> None:
        self.db = db
        self.models = models
        self.storage = storage
        self.endpoints = endpoints
        self.settings = settings
        self.cache = settings.resolved_home / "cache" / "models"
        self._lock = threading.Lock()
        self._providers: OrderedDict[str, LLMProvider] = OrderedDict()
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None

    async def get(self, caller: Principal, name: str, version: str | None = None) -> ServedModel:
        """The provider for a model the caller may use (NotFound otherwise)."""
        info, ver = await asyncio.to_thread(self.models.resolve, caller, name, version)
        if info.objective is not Objective.TEXT_GENERATION:
            raise InvalidInput(
                f"model {name!r} is a {info.objective.value} model, not text-generation",
                details={"param": "model"},
            )
        defaults = serving_defaults(info)
        provider = await asyncio.to_thread(self._provider, caller, info, ver)
        return ServedModel(info, ver, provider, defaults)

    def _provider(
        self, caller: Principal, info: ModelInfo, ver: ModelVersionInfo | None
    ) -> LLMProvider:
        fingerprint = json.dumps(
            [info.serving, info.updated_at.isoformat(), info.endpoint and info.endpoint.url],
            sort_keys=True,
            default=str,
        )
        key = f"{info.name}:{ver.version if ver else '-'}:{_digest(fingerprint)}"
        stale: list[LLMProvider] = []
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                provider = self._open(caller, info, ver)
                # Another version or older settings of the same model are not used again.
                for other in [k for k in self._providers if k.split(":", 1)[0] == info.name]:
                    stale.append(self._providers.pop(other))
                self._providers[key] = provider
                if provider.kind in LOCAL and self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="aip-llm-reaper", daemon=True
                    )
                    self._reaper.start()
            self._providers.move_to_end(key)
            stale += self._over_budget(spare_last=True)
        for old in stale:
            _close_soon(old, wait=True)
        return provider

    def _reap(self) -> None:
        # Unload models nobody used for idle_unload_s, even when no request comes.
        period = min(30.0, self.settings.chat.idle_unload_s / 2)
        while not self._closed.wait(period):
            with self._lock:
                idle = self._over_budget(spare_last=False)
            for provider in idle:
                _close_soon(provider, wait=True)

    def _over_budget(self, *, spare_last: bool) -> list[LLMProvider]:
        local = [k for k, p in self._providers.items() if p.kind in LOCAL]
        evicted: list[LLMProvider] = []
        idle_after = self.settings.chat.idle_unload_s
        for key in local[:-1] if spare_last else local:  # spare the one just asked for
            provider = self._providers[key]
            too_many = len(local) - len(evicted) > self.settings.chat.max_loaded_models
            idle = getattr(provider, "idle_s", 0.0) > idle_after
            if (too_many or idle) and not provider.state().queued:
                evicted.append(self._providers.pop(key))
        return evicted

    def _open(
        self, caller: Principal, info: ModelInfo, ver: ModelVersionInfo | None
    ) -> LLMProvider:
        chat = self.settings.chat
        if info.format is ModelFormat.GGUF:
            from aiplayground.chat.providers.embedded import open_embedded

            assert ver is not None
            return open_embedded(info.name, self._gguf(caller, info, ver), chat, info.serving)
        if info.format is ModelFormat.HUGGINGFACE:
            from aiplayground.chat.providers.transformers import is_adapter, open_transformers

            assert ver is not None
            folder = _model_root(self._folder(caller, info, ver), info.serving)
            base = None
            if is_adapter(folder):
                base = self._base_model(caller, info)
            return open_transformers(
                info.name, folder, chat, info.serving, trusted=info.trusted, base=base
            )
        if info.format is ModelFormat.REMOTE and info.endpoint is not None:
            return self._remote(info)
        raise InvalidInput(
            f"model {info.name!r} ({info.format.value}) cannot generate text here; chat serves "
            f"{KNOWN}",
            details={"param": "model"},
        )

    def _remote(self, info: ModelInfo) -> LLMProvider:
        assert info.endpoint is not None
        kwargs: dict[str, Any] = {
            "name": info.name,
            "url": info.endpoint.url,
            "remote_name": info.endpoint.remote_name or info.name,
            "policy": self.endpoints.policy,
            "api_key": self._api_key(info.name) if info.endpoint.has_api_key else None,
            "timeout_s": self.settings.network.timeout_s,
            "serving": info.serving,
        }
        protocol = info.endpoint.protocol.value
        if protocol == "openai":
            from aiplayground.chat.providers.openai import OpenAIProvider

            return OpenAIProvider(**kwargs)
        if protocol == "kserve-v2":
            from aiplayground.chat.providers.kserve_v2 import KServeV2Provider

            return KServeV2Provider(**kwargs)
        raise InvalidInput(
            f"model {info.name!r} is a {protocol} endpoint, which has no text generation; "
            "register it with the openai or kserve-v2 protocol",
            details={"param": "model"},
        )

    def _api_key(self, name: str) -> str | None:
        # Read after `resolve` checked the caller may use the model; never leaves the server.
        with self.db.session() as s:
            row = s.scalar(select(Model).where(Model.name == name))
            sealed = (row.endpoint or {}).get("api_key") if row is not None else None
        return self.endpoints.unseal(sealed) if sealed else None

    def _files(self, caller: Principal, info: ModelInfo, ver: ModelVersionInfo) -> list[FileEntry]:
        return self.models.stored_files(caller, info.name, ver.version)

    def _gguf(self, caller: Principal, info: ModelInfo, ver: ModelVersionInfo) -> Path:
        files = self._files(caller, info, ver)
        wanted = info.serving.get("file")
        ggufs = [f for f in files if f.path == wanted or (not wanted and f.path.endswith(".gguf"))]
        if len(ggufs) != 1:
            raise InvalidInput(
                f"model {info.name!r} version {ver.version} has {len(ggufs)} matching .gguf "
                "files; set serving.file to the one to load",
                details={"param": "model"},
            )
        local = self.storage.local_path(ggufs[0].key)
        if local is not None:
            return local
        return self._materialize(info, ver, [ggufs[0]]) / ggufs[0].path

    def _folder(self, caller: Principal, info: ModelInfo, ver: ModelVersionInfo) -> Path:
        return self._materialize(info, ver, self._files(caller, info, ver))

    def _materialize(self, info: ModelInfo, ver: ModelVersionInfo, files: list[FileEntry]) -> Path:
        from aiplayground.inference.files import materialize

        digest = _digest("\n".join(sorted(f"{f.path}\0{f.sha256}" for f in files)))
        folder: Path = materialize(
            self.storage, files, self.cache / info.name / f"v{ver.version}-{digest}"
        )
        return folder

    def _base_model(self, caller: Principal, info: ModelInfo) -> Path:
        base_name = info.serving.get("base_model")
        if not isinstance(base_name, str) or not base_name:
            raise InvalidInput(
                f"model {info.name!r} is a LoRA adapter: set serving.base_model to the catalog "
                "model it adapts (name or name:version)",
                details={"param": "model"},
            )
        name, _, version = base_name.partition(":")
        base, base_ver = self.models.resolve(caller, name, version or None)
        if base_ver is not None and base.format is ModelFormat.GGUF:
            # transformers loads a GGUF dequantized, as the LoRA recipe trained on it.
            return self._gguf(caller, base, base_ver)
        if base.format is not ModelFormat.HUGGINGFACE or base_ver is None:
            raise InvalidInput(
                f"the base model {name!r} of {info.name!r} is neither a huggingface nor a gguf one"
            )
        return _model_root(self._folder(caller, base, base_ver), base.serving)

    def states(self) -> dict[str, str]:
        """Model name -> provider state, for the status dot."""
        with self._lock:
            return {k.split(":", 1)[0]: p.state().state for k, p in self._providers.items()}

    def close(self) -> None:
        """Stop every worker process (in parallel; callable from inside an event loop)."""
        self._closed.set()
        with self._lock:
            providers, self._providers = list(self._providers.values()), OrderedDict()
        threads = [_close_soon(p, wait=False) for p in providers]
        for thread in threads:
            thread.join()


def _model_root(folder: Path, serving: dict[str, Any]) -> Path:
    """Where the model sits in its version folder: serving.main, else the shallowest
    folder with a config.json (or adapter_config.json), as uploads of a folder have it."""
    main = serving.get("main")
    if isinstance(main, str) and main not in ("", "."):
        from aiplayground.chat.providers.transformers import inside

        return inside(folder, main)
    for name in ("config.json", "adapter_config.json"):
        found = sorted(folder.rglob(name), key=lambda p: len(p.parts))
        if found:
            return found[0].parent
    return folder


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _close(provider: LLMProvider, wait: bool) -> None:
    # An evicted model may still be answering: let it finish (within reason) first.
    deadline = time.monotonic() + RETIRE_WAIT_S
    while wait and provider.state().queued and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        asyncio.run(provider.close())
    except Exception:
        log.exception("closing the provider of a chat model failed")


def _close_soon(provider: LLMProvider, *, wait: bool) -> threading.Thread:
    # Its own thread and event loop: stopping a worker blocks for a moment, and callers
    # may be on an event loop already.
    thread = threading.Thread(target=_close, args=(provider, wait), daemon=True)
    thread.start()
    return thread
