"""Settings of the data plane (the `inference` section of the platform settings)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class InferenceSettings(BaseModel):
    """Bounds and defaults of model serving; per-model `serving` settings override some."""

    max_elements: int = Field(
        10_000_000, description="Most tensor elements in one inference request (400 beyond)."
    )
    max_request_bytes: int = Field(
        256 * 1024**2,
        description="Largest inference request body, binary tensor data included (413 beyond).",
    )
    max_batch_size: int = Field(
        1024,
        description="Default most rows merged into one batch (model setting max_batch_size).",
    )
    max_batch_bytes: int = Field(
        4 * 1024**2,
        description="Default most input bytes merged into one batch (model setting "
        "max_batch_bytes); a larger request still runs, alone.",
    )
    max_batch_wait_ms: float = Field(
        0.0,
        description="Default time a batch waits for more requests, in ms (model setting "
        "max_batch_wait_ms). 0 merges only requests that queued while the model was busy.",
    )
    max_queue: int = Field(
        512, description="Most requests waiting for one model before 429 (model setting max_queue)."
    )
    max_loaded_models: int = Field(
        8,
        description="Most models loaded at once, one worker process each (least recently "
        "used idle ones are unloaded first).",
    )
    idle_unload_s: float = Field(
        900.0, description="Unload a model not used for this many seconds."
    )
    load_timeout_s: float = Field(300.0, description="Longest a model may take to load, seconds.")
    predict_timeout_s: float = Field(
        60.0, description="Longest one batch may take in a model worker, seconds (504 beyond)."
    )
    failed_retry_s: float = Field(
        30.0, description="After a model failed to load, answer 503 this long before retrying."
    )
    fork_server: bool = Field(
        True,
        description="Start single-threaded model workers by forking a process that imported "
        "numpy and scikit-learn once (milliseconds instead of seconds per model).",
    )
    worker_threads: int = Field(
        1, description="Threads per model worker for numeric libraries (model setting threads)."
    )
    resolve_cache_s: float = Field(
        1.0,
        description="How long a resolved model name is reused before the catalog is asked again "
        "(a new production alias takes effect after at most this long).",
    )
