"""PyTorch programs: TorchScript (.pt, .pth) or `torch.export` (.pt2). Trusted models only.

Both formats can carry pickled data, so only a model an admin marked trusted is loaded,
and only in a worker process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput, PermissionDenied, require_extra
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.runtimes.base import pick_file


def load(directory: Path, load_spec: LoadSpec) -> TorchRuntime:
    """Load a TorchScript or exported program onto the CPU."""
    if not load_spec.trusted:
        raise PermissionDenied("PyTorch files can run code: an admin must mark the model trusted")
    torch = require_extra("torch", "pytorch")
    torch.set_num_threads(load_spec.threads)
    path = pick_file(directory, (".pt2", ".pt", ".pth"), load_spec)
    if path.suffix == ".pt2":
        module = torch.export.load(str(path)).module()
    else:
        module = torch.jit.load(str(path), map_location="cpu")
    if hasattr(module, "eval"):
        module.eval()
    return TorchRuntime(torch, module, int(load_spec.serving.get("outputs", 1)))


class TorchRuntime:
    """Positional inputs in request order; outputs `output-0`, `output-1`, ..."""

    def __init__(self, torch: Any, module: Any, n_outputs: int) -> None:
        self.torch = torch
        self.module = module
        self.names = [f"output-{i}" for i in range(max(n_outputs, 1))]

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """Programs do not describe their inputs; the version's signature should."""
        outputs = [{"name": n, "datatype": "FP32", "shape": [-1]} for n in self.names]
        return {"inputs": [], "outputs": outputs}

    def defaults(self) -> list[str]:
        """Every output."""
        return list(self.names)

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Call the module on the inputs as tensors, without autograd."""
        args = [self.torch.from_numpy(np.array(a, copy=True)) for a in inputs.values()]
        with self.torch.inference_mode():
            result = self.module(*args)
        if isinstance(result, dict):
            result = list(result.values())
        if not isinstance(result, (list, tuple)):
            result = [result]
        if len(result) != len(self.names):
            raise InvalidInput(
                f"the program returned {len(result)} outputs; set the model's serving.outputs"
            )
        produced = {n: r.detach().cpu().numpy() for n, r in zip(self.names, result, strict=True)}
        return {n: produced[n] for n in outputs}
