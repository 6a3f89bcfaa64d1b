"""Hugging Face transformers pipelines for non-generative tasks (text classification, ...)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput, require_extra
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.tensor import texts

TASKS = ("text-classification", "token-classification", "fill-mask", "feature-extraction")
GENERATIVE = ("text-generation", "text2text-generation", "summarization", "translation")


def _task(directory: Path, load_spec: LoadSpec) -> str:
    task = load_spec.serving.get("task")
    if task is None:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        architectures = config.get("architectures") or [""]
        if architectures[0].endswith("ForSequenceClassification"):
            task = "text-classification"
        elif architectures[0].endswith("ForTokenClassification"):
            task = "token-classification"
        else:
            task = "feature-extraction"
    if task in GENERATIVE:
        raise InvalidInput(f"{task!r} models are served by the chat and OpenAI routes")
    if task not in TASKS:
        raise InvalidInput(f"unsupported task {task!r}; supported: {', '.join(TASKS)}")
    return str(task)


def load(directory: Path, load_spec: LoadSpec) -> HuggingFaceRuntime:
    """Build a pipeline from the version's folder; remote code only for trusted models."""
    main = load_spec.serving.get("main")
    if isinstance(main, str) and main not in ("", "."):
        root = directory.resolve()
        directory = (root / main).resolve()
        if not directory.is_relative_to(root):
            raise InvalidInput(f"serving.main {main!r} is outside the version's folder")
    if not (directory / "config.json").is_file():
        raise InvalidInput("a Hugging Face model folder needs a config.json")
    transformers = require_extra("transformers", "huggingface")
    task = _task(directory, load_spec)
    pipe = transformers.pipeline(
        task=task,
        model=str(directory),
        device="cpu",
        trust_remote_code=load_spec.trusted,
        model_kwargs={"local_files_only": True},
    )
    return HuggingFaceRuntime(pipe, task)


class HuggingFaceRuntime:
    """Text in (a BYTES tensor); classification gives `label` and `score`."""

    def __init__(self, pipe: Any, task: str) -> None:
        self.pipe = pipe
        self.task = task

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """One BYTES input; outputs by task."""
        inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        if self.task == "text-classification":
            outputs = [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "score", "datatype": "FP32", "shape": [-1]},
            ]
        else:
            outputs = [{"name": "output-0", "datatype": "BYTES", "shape": [-1]}]
        return {"inputs": inputs, "outputs": outputs}

    def defaults(self) -> list[str]:
        """Every output of the task."""
        return [o["name"] for o in self.metadata()["outputs"]]

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Run the pipeline on the batch of texts."""
        if len(inputs) != 1:
            raise InvalidInput("this model takes one input of texts")
        batch = texts(next(iter(inputs.values())))
        results = self.pipe(batch)
        if self.task == "text-classification":
            rows = [r[0] if isinstance(r, list) else r for r in results]
            produced = {
                "label": np.asarray([r["label"] for r in rows], dtype=object),
                "score": np.asarray([r["score"] for r in rows], dtype=np.float32),
            }
        else:
            encoded = np.empty(len(results), dtype=object)
            encoded[:] = [json.dumps(r, default=float) for r in results]
            produced = {"output-0": encoded}
        return {n: produced[n] for n in outputs}
