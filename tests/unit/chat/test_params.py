"""Generation parameters: parsing, layering, and refusing what a provider cannot do."""

from __future__ import annotations

import pytest

from aiplayground.chat.params import GenerationParams, parse_params, require_supported
from aiplayground.errors import InvalidInput


def test_layers_override_only_what_they_set() -> None:
    model = GenerationParams(temperature=0.2, top_k=20)
    conversation = GenerationParams(temperature=0.9)
    message = GenerationParams(max_new_tokens=5, stop="END")  # type: ignore[arg-type]
    merged = GenerationParams(max_new_tokens=512).merged(model, conversation, message)
    assert merged.model_dump(exclude_none=True) == {
        "max_new_tokens": 5,
        "temperature": 0.9,
        "top_k": 20,
        "stop": ["END"],
    }


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"beams": 2}, "beams"),
        ({"temperature": 7}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"stop": [""]}, "stop"),
        ({"stop": ["x"] * 9}, "stop"),
    ],
)
def test_bad_parameters_name_themselves(raw: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_params(raw, "the request")
    assert caught.value.details["param"] == param
    assert param in caught.value.message


def test_unsupported_parameters_are_refused_not_ignored() -> None:
    params = GenerationParams(temperature=0.5, num_beams=4)
    with pytest.raises(InvalidInput) as caught:
        require_supported(params, {"temperature", "max_new_tokens"}, "embedded")
    assert caught.value.details == {"param": "num_beams"}
    require_supported(GenerationParams(temperature=0.5), {"temperature"}, "embedded")
