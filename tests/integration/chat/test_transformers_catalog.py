"""A Hugging Face causal LM uploaded to the catalog, served by the transformers provider."""

from __future__ import annotations

import pytest

from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import (
    ModelCreate,
    ModelFormat,
    ModelUpdate,
    Objective,
    VersionMetadata,
)
from tests.integration.chat.conftest import Live
from tests.integration.chat.test_providers import needs_torch

# Slow: the worker imports torch and transformers (about 15 s on the build machine).
pytestmark = [needs_torch, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(live: Live, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny Llama with a LoRA adapter in `adapters/lora`, as one catalog version."""
    from tests.integration.chat.tiny_hf import make_tiny_model

    root = tmp_path_factory.mktemp("hf")
    make_tiny_model(root / "tiny", adapter=root / "tiny" / "adapters" / "lora")
    files = [
        IncomingFile(str(f.relative_to(root)), f) for f in sorted(root.rglob("*")) if f.is_file()
    ]
    admin = live.platform.auth.ensure_user("admin", Role.ADMIN)
    owner = Principal(user_id=admin.id, name=admin.name, role=Role.ADMIN)
    models = live.platform.models
    for name, serving in (("tiny-llama", {}), ("tiny-llama-lora", {"adapters": ["adapters/lora"]})):
        models.create(
            owner,
            ModelCreate(
                name=name,
                objective=Objective.TEXT_GENERATION,
                format=ModelFormat.HUGGINGFACE,
                visibility="public",  # type: ignore[arg-type]
            ),
        )
        models.add_version(owner, name, files, VersionMetadata())
        if serving:
            models.update(owner, name, ModelUpdate(serving=serving))
    return "tiny-llama"


def test_beam_search_contrastive_and_lora_through_the_openai_route(
    live: Live, tiny_model: str
) -> None:
    def complete(model: str, **params: object) -> dict:
        with live.http() as http:
            answer = http.post(
                "/openai/v1/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "hello cat"}],
                    **params,
                },
            )
        assert answer.status_code == 200, answer.text
        return answer.json()

    greedy = complete(tiny_model, max_tokens=5, do_sample=False)
    assert greedy["usage"]["completion_tokens"] == 5
    assert complete(tiny_model, max_tokens=5, num_beams=3)["choices"][0]["message"]["content"]
    contrastive = complete(tiny_model, max_tokens=5, penalty_alpha=0.5, top_k=3)
    assert 0 < contrastive["usage"]["completion_tokens"] <= 5
    diverse = complete(
        tiny_model, max_tokens=5, num_beams=4, num_beam_groups=2, diversity_penalty=1
    )
    assert diverse["choices"][0]["finish_reason"] in ("stop", "length")
    adapted = complete("tiny-llama-lora", max_tokens=5, do_sample=False)
    assert adapted["choices"][0]["message"]["content"] != greedy["choices"][0]["message"]["content"]
    with live.http() as http:
        refused = http.post(
            "/openai/v1/chat/completions",
            json={
                "model": tiny_model,
                "messages": [{"role": "user", "content": "x"}],
                "presence_penalty": 1,
            },
        )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "presence_penalty"
