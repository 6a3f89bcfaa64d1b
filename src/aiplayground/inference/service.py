"""The data plane: one `infer()` that every door (KServe v1, v2, the UI, the CLI) goes through."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from aiplayground.auth.principal import Principal
from aiplayground.catalog.models import ModelCatalog
from aiplayground.catalog.schemas import ModelFormat, ModelInfo, ModelVersionInfo
from aiplayground.errors import InvalidInput, PlaygroundError
from aiplayground.inference.config import InferenceSettings
from aiplayground.inference.files import materialize
from aiplayground.inference.pool import ModelWorker, WorkerPool
from aiplayground.inference.remote import RemoteForwarder
from aiplayground.inference.runtimes import LoadSpec
from aiplayground.inference.tensor import InferRequest, InferResponse, Tensor
from aiplayground.inference.validation import validate_request
from aiplayground.singleflight import SingleFlight
from aiplayground.storage import ArtifactStore

log = logging.getLogger(__name__)

MAX_CACHED_TARGETS = 10_000
TargetKey = tuple[Principal, str, str | None]
# Gradient-boosted trees treat NaN as "missing", a value they were trained to handle.
NAN_FORMATS = (ModelFormat.XGBOOST, ModelFormat.LIGHTGBM)


@dataclass(frozen=True)
class Target:
    """A resolved model name: the entry and the version a request means."""

    info: ModelInfo
    version: ModelVersionInfo | None
    expires: float
    worker_key: str = ""


def worker_key(info: ModelInfo, version: ModelVersionInfo | None) -> str:
    """Equal for requests the same worker process can serve (same files, trust, settings)."""
    if version is None:
        return ""
    identity = {
        "name": info.name,
        "version": version.version,
        "format": info.format.value,
        "trusted": info.trusted,
        "serving": info.serving,
        "files": sorted((f.path, f.sha256) for f in version.files),
    }
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{info.name}@{version.version}#{digest[:16]}"


class InferenceService:
    """Predictions from catalog models: local ones in worker processes, remote ones forwarded."""

    def __init__(
        self,
        catalog: ModelCatalog,
        storage: ArtifactStore,
        settings: InferenceSettings,
        *,
        cache_dir: Path,
        endpoints: Any = None,
        remote_timeout_s: float = 30.0,
    ) -> None:
        self.catalog = catalog
        self.storage = storage
        self.settings = settings
        self.cache_dir = cache_dir
        self.endpoints = endpoints
        self.remote_timeout_s = remote_timeout_s
        self.pool = WorkerPool(settings)
        self._remote: RemoteForwarder | None = None
        self._targets: dict[TargetKey, Target] = {}
        self._resolving: SingleFlight[TargetKey, Target] = SingleFlight()

    # lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start background work (unloading idle models); call from the app's lifespan."""
        self.pool.start()

    async def stop(self) -> None:
        """Stop every model worker and close remote connections."""
        await self.pool.close()
        if self._remote is not None:
            await self._remote.close()
            self._remote = None

    # the data plane --------------------------------------------------------------------

    async def infer(
        self, caller: Principal, name: str, version: str | int | None, request: InferRequest
    ) -> InferResponse:
        """Run one request on a model (its default version unless `version` says otherwise)."""
        target = await self.resolve(caller, name, version)
        if target.version is None:
            return await self._forward(caller, target, request)
        allow_nan = bool(target.info.serving.get("allow_nan", target.info.format in NAN_FORMATS))
        validate_request(request, target.version.signature, allow_nan=allow_nan)
        worker = await self._worker(caller, target)
        wanted, replies = self._outputs(worker, target, request)
        assert worker.batcher is not None
        outputs = await worker.batcher.submit(request.inputs, wanted, request.parameters)
        return InferResponse(
            outputs=[
                Tensor(reply, t.datatype, t.data) for reply, t in zip(replies, outputs, strict=True)
            ],
            model_name=target.info.name,
            model_version=str(target.version.version),
            id=request.id,
        )

    async def metadata(
        self, caller: Principal, name: str, version: str | int | None = None
    ) -> dict[str, Any]:
        """Open Inference Protocol model metadata: versions, platform, inputs, outputs."""
        target = await self.resolve(caller, name, version)
        info = target.info
        if target.version is None:
            answer = await self._remote_get(caller, target)
            if isinstance(answer, dict) and "inputs" in answer:
                return {**answer, "name": info.name}
            return {
                "name": info.name,
                "versions": [],
                "platform": "remote",
                "inputs": [],
                "outputs": [],
            }
        signature = target.version.signature
        loaded = await self._loaded_metadata(caller, target)
        inputs = (
            [s.model_dump() for s in signature.inputs]
            if signature and signature.inputs
            else loaded["inputs"]
        )
        declared = [s.model_dump() for s in signature.outputs] if signature else []
        # Declared outputs rename the runtime's in order (see `_outputs`); the ones the
        # runtime offers beyond them (predict_proba, ...) are listed under their own names,
        # as a client may ask for any of them.
        outputs = declared + loaded["outputs"][len(declared) :]
        return {
            "name": info.name,
            "versions": [str(v) for v in info.versions],
            "platform": info.format.value,
            "inputs": inputs,
            "outputs": outputs,
        }

    async def _loaded_metadata(
        self, caller: Principal, target: Target
    ) -> dict[str, list[dict[str, Any]]]:
        """What the loaded runtime says of its tensors; loads the model when needed.

        A model that fails to load still has metadata: its declared signature alone.
        """
        worker = self.pool.workers.get(target.worker_key)
        if worker is None:
            try:
                worker = await self._worker(caller, target)
            except PlaygroundError as exc:
                if exc.code in ("not_found", "permission_denied"):
                    raise
                return {"inputs": [], "outputs": []}
        return worker.metadata

    async def ready(self, caller: Principal, name: str, version: str | int | None = None) -> bool:
        """Load the model if needed and tell whether it can serve (remote: ask the remote)."""
        target = await self.resolve(caller, name, version)
        try:
            if target.version is None:
                answer = await self._remote_get(caller, target)
                return not isinstance(answer, dict) or answer.get("ready", True) is not False
            await self._worker(caller, target)
        except PlaygroundError as exc:
            if exc.code in ("not_found", "permission_denied"):
                raise
            return False
        return True

    def state(self, name: str, version: int) -> str:
        """`ready`, `loading`, `failed` or `unloaded`, for pages that show model status."""
        prefix = f"{name}@{version}#"
        pool = self.pool
        if any(key.startswith(prefix) for key in pool.workers):
            return "ready"
        if any(key.startswith(prefix) for key in pool.starting):
            return "loading"
        if any(key.startswith(prefix) and pool.failure(key) for key in list(pool.failures)):
            return "failed"
        return "unloaded"

    # resolution ------------------------------------------------------------------------

    async def resolve(self, caller: Principal, name: str, version: str | int | None) -> Target:
        """The catalog's answer for this caller, reused for `resolve_cache_s` seconds.

        One lookup per key at a time: when the answer expires under load, the concurrent
        requests wait for a single catalog query instead of each running their own.
        """
        key = (caller, name, None if version is None else str(version))
        cached = self._targets.get(key)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        return await self._resolving.run(key, lambda: self._lookup(key, caller, name, version))

    async def _lookup(
        self, key: TargetKey, caller: Principal, name: str, version: str | int | None
    ) -> Target:
        info, found = await asyncio.to_thread(self.catalog.resolve, caller, name, version)
        expires = time.monotonic() + self.settings.resolve_cache_s
        target = Target(info, found, expires, worker_key(info, found))
        if len(self._targets) >= MAX_CACHED_TARGETS:
            self._targets.clear()
        self._targets[key] = target
        return target

    async def _worker(self, caller: Principal, target: Target) -> ModelWorker:
        info, version = target.info, target.version
        assert version is not None

        async def prepare() -> tuple[Path, LoadSpec, dict[str, Any]]:
            files = await asyncio.to_thread(
                self.catalog.stored_files, caller, info.name, version.version
            )
            key = target.worker_key
            folder = self.cache_dir / info.name / key.rsplit("@", 1)[1].replace("#", "-")
            directory = await asyncio.to_thread(materialize, self.storage, files, folder)
            threads = int(info.serving.get("threads", self.settings.worker_threads))
            serving = dict(info.serving)
            # The catalog found the file to load when the version was uploaded.
            detected = getattr(version, "detected", None)
            if isinstance(detected, dict) and isinstance(detected.get("main"), str):
                serving.setdefault("main", detected["main"])
            spec = LoadSpec(
                name=info.name,
                format=info.format.value,
                trusted=info.trusted,
                serving=serving,
                threads=max(1, threads),
            )
            return directory, spec, dict(info.serving)

        return await self.pool.get(target.worker_key, info.name, prepare)

    def _outputs(
        self, worker: ModelWorker, target: Target, request: InferRequest
    ) -> tuple[list[str], list[str]]:
        """The runtime's names for the outputs asked for, and the names to answer with.

        A version's signature may rename the runtime's outputs, in order.
        """
        canonical = [o["name"] for o in worker.metadata["outputs"]]
        signature = target.version.signature if target.version else None
        declared = [o.name for o in signature.outputs] if signature else []
        to_runtime = dict(zip(declared, canonical, strict=False))
        to_reply = {c: d for d, c in to_runtime.items()}
        if not request.outputs:
            wanted = list(worker.defaults)
            return wanted, [to_reply.get(n, n) for n in wanted]
        wanted = []
        for output in request.outputs:
            runtime_name = to_runtime.get(output.name, output.name)
            if runtime_name not in canonical:
                known = ", ".join(declared + [c for c in canonical if c not in to_reply])
                raise InvalidInput(f"unknown output {output.name!r}; the model has {known}")
            wanted.append(runtime_name)
        return wanted, [o.name for o in request.outputs]

    # remote endpoints ------------------------------------------------------------------

    @property
    def remote(self) -> RemoteForwarder:
        """The HTTP client for remote endpoints, made on first use."""
        if self._remote is None:
            policy = getattr(self.endpoints, "policy", None)
            client = policy.async_client(self.remote_timeout_s) if policy is not None else None
            self._remote = RemoteForwarder(
                self.remote_timeout_s,
                self.settings.max_elements,
                self.settings.max_request_bytes,
                client,
            )
        return self._remote

    async def _forward(
        self, caller: Principal, target: Target, request: InferRequest
    ) -> InferResponse:
        endpoint = target.info.endpoint
        if endpoint is None:
            raise InvalidInput(f"model {target.info.name!r} has no endpoint")
        key = await self._api_key(caller, target) if endpoint.has_api_key else None
        return await self.remote.infer(endpoint, target.info.name, key, request)

    async def _remote_get(self, caller: Principal, target: Target) -> Any:
        endpoint = target.info.endpoint
        if endpoint is None:
            raise InvalidInput(f"model {target.info.name!r} has no endpoint")
        key = await self._api_key(caller, target) if endpoint.has_api_key else None
        return await self.remote.get(endpoint, target.info.name, key)

    async def _api_key(self, caller: Principal, target: Target) -> str | None:
        # The key is decrypted for the forwarded call only; it never leaves the server.
        return await asyncio.to_thread(self.catalog.endpoint_api_key, caller, target.info.name)
