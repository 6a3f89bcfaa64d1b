"""Checks of a request against a model version's signature, before any model runs."""

from __future__ import annotations

from aiplayground.catalog.schemas import Signature, TensorSpec
from aiplayground.errors import InvalidInput
from aiplayground.inference.tensor import DTYPES, InferRequest, Tensor, check_finite, coerce


def validate_request(
    request: InferRequest, signature: Signature | None, *, allow_nan: bool
) -> None:
    """Match inputs to the signature (renaming a lone input), cast untyped ones, check values."""
    if signature is not None and signature.inputs:
        _match_inputs(request, signature.inputs)
    if not allow_nan:
        for tensor in request.inputs:
            check_finite(tensor, f"input {tensor.name!r}")


def _match_inputs(request: InferRequest, specs: list[TensorSpec]) -> None:
    if len(specs) == 1 and len(request.inputs) == 1:
        # A one-input model: KServe v1 has no names, and v2 clients often say "input-0".
        request.inputs[0].name = specs[0].name
    by_name = {t.name: t for t in request.inputs}
    expected = {s.name for s in specs}
    unknown = sorted(set(by_name) - expected)
    if unknown:
        raise InvalidInput(
            f"unknown input {unknown[0]!r}; the model takes {', '.join(sorted(expected))}"
        )
    for spec in specs:
        tensor = by_name.get(spec.name)
        if tensor is None:
            raise InvalidInput(f"missing input {spec.name!r}")
        _check(tensor, spec, typed=request.typed)


def _check(tensor: Tensor, spec: TensorSpec, *, typed: bool) -> None:
    what = f"input {spec.name!r}"
    if tensor.datatype != spec.datatype:
        if typed or spec.datatype == "BYTES" or tensor.datatype == "BYTES":
            raise InvalidInput(
                f"{what}: datatype {tensor.datatype}, the model expects {spec.datatype}"
            )
        tensor.data = coerce(tensor.data, DTYPES[spec.datatype], what)
        tensor.datatype = spec.datatype
    shape = tensor.shape
    fits = len(shape) == len(spec.shape) and all(
        want < 0 or want == got for want, got in zip(spec.shape, shape, strict=True)
    )
    if not fits:
        raise InvalidInput(f"{what}: shape {shape}, the model expects {spec.shape}")
