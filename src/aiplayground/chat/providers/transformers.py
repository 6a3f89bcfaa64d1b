"""Transformers provider: a Hugging Face causal-LM folder on torch (CPU or GPU) in a worker
process, with beam, diverse beam and contrastive search, and LoRA adapters (peft)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from aiplayground.chat.providers.embedded import worker_threads
from aiplayground.chat.providers.process import WorkerProcess, WorkerProvider
from aiplayground.errors import InvalidInput, MissingDependency
from aiplayground.settings import ChatSettings

KIND = "transformers"
EXTRA = "llm-torch"
SUPPORTED = frozenset(
    {
        "max_new_tokens",
        "temperature",
        "top_k",
        "top_p",
        "do_sample",
        "repetition_penalty",
        "stop",
        "seed",
        "num_beams",
        "num_beam_groups",
        "diversity_penalty",
        "penalty_alpha",
    }
)
ENGINE = "aiplayground.chat.providers.hf_engine:load"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def require_torch(adapters: bool) -> None:
    """MissingDependency naming the extra when torch/transformers (or peft) are absent."""
    needed = ["torch", "transformers", *(["peft"] if adapters else [])]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependency(
            f"Hugging Face chat models need {', '.join(missing)}: "
            f"pip install 'ai-playground[{EXTRA}]'"
        )


def is_adapter(folder: Path) -> bool:
    """True for a LoRA adapter folder (it needs a base model)."""
    return (folder / "adapter_config.json").is_file()


def inside(folder: Path, relative: str) -> Path:
    """A sub-folder named in serving settings, refused if it leaves the version's folder."""
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise InvalidInput(f"{relative!r} is outside the model version's folder")
    return target


def open_transformers(
    name: str,
    folder: Path,
    settings: ChatSettings,
    serving: dict[str, Any],
    *,
    trusted: bool,
    base: Path | None = None,
) -> WorkerProvider:
    """A provider for a model folder, or for an adapter folder on top of `base`.

    `base` is a Hugging Face folder, or a .gguf file that transformers loads dequantized
    (the packaged small LLM, which the LoRA recipe fine-tunes).
    """
    adapters: list[str] = []
    tokenizer: Path | None = None
    if is_adapter(folder):
        if base is None:
            raise InvalidInput(
                f"model {name!r} is a LoRA adapter: set serving.base_model to the catalog "
                "model it adapts"
            )
        adapters.append(str(folder))
        has_tokenizer = any((folder / f).is_file() for f in TOKENIZER_FILES)
        tokenizer = folder if has_tokenizer else base
    else:
        if not (folder / "config.json").is_file():
            raise InvalidInput(f"model {name!r} has no config.json: not a Hugging Face folder")
        adapters += [str(inside(folder, a)) for a in serving.get("adapters") or []]
        base = folder
    require_torch(bool(adapters))
    threads = worker_threads(settings)
    base_path, gguf_file = _split_gguf(base)
    tokenizer_path, tokenizer_gguf = _split_gguf(tokenizer or base)
    spec = {
        "path": str(folder),
        "base_path": base_path,
        "gguf_file": gguf_file,
        "tokenizer_path": tokenizer_path,
        "tokenizer_gguf_file": tokenizer_gguf,
        "adapters": adapters,
        "trusted": trusted,
        "device": serving.get("device"),
        "threads": threads,
        "context_tokens": int(serving.get("context_window") or settings.context_tokens),
        "max_new_tokens": settings.default_max_new_tokens,
    }
    worker = WorkerProcess(
        ENGINE,
        spec,
        name=name,
        threads=threads,
        load_timeout_s=settings.load_timeout_s,
        max_queue=settings.max_queue_per_model,
    )
    return WorkerProvider(KIND, SUPPORTED, worker)


def _split_gguf(path: Path) -> tuple[str, str | None]:
    """A model's folder and, for a GGUF file, its name (transformers' `gguf_file`)."""
    if path.is_file():
        return str(path.parent), path.name
    return str(path), None
