"""HEP calls of the SDK: ROOT summaries of datasets, predictions on ROOT files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


class HepMixin:
    """Methods for the ROOT routes (mixed into `Client`)."""

    http: httpx.Client

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Provided by `Client`."""
        raise NotImplementedError

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Provided by `Client`."""
        raise NotImplementedError

    def root_summary(self, dataset: str, version: int, tree: str | None = None) -> dict[str, Any]:
        """Trees, branches, per-branch summaries and multiplicities of a ROOT dataset version."""
        params = {"tree": tree} if tree else {}
        result: dict[str, Any] = self.json(
            "GET", f"/api/v1/datasets/{dataset}/versions/{version}/root-summary", params=params
        )
        return result

    def predict_root(
        self,
        model: str,
        file: str | Path,
        *,
        tree: str | None = None,
        version: str | int | None = None,
        out: str | Path | None = None,
        output: str | None = None,
    ) -> dict[str, Any] | Path:
        """Per-event predictions for a ROOT file: JSON, or a file `out` (.csv/.parquet/.root).

        `output` names the model output to return (`predict_proba`: class probabilities).
        """
        path = Path(file)
        fmt = "json"
        if out is not None:
            fmt = Path(out).suffix.lstrip(".").lower()
        fields = {"format": fmt, **({"tree": tree} if tree else {})}
        if version is not None:
            fields["version"] = str(version)
        if output:
            fields["output"] = output
        with path.open("rb") as stream:
            files = {"file": (path.name, stream, "application/octet-stream")}
            url = f"/api/v1/models/{model}/predict-root"
            if out is None:
                result: dict[str, Any] = self.json("POST", url, files=files, data=fields)
                return result
            response = self.request("POST", url, files=files, data=fields)
        target = Path(out)
        target.write_bytes(response.content)
        return target
