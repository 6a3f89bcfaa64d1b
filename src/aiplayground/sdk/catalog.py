"""Catalog calls of the SDK: models, versions, aliases, endpoints and datasets."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

import httpx


class CatalogMixin:
    """Methods for /api/v1/models and /api/v1/datasets (mixed into `Client`)."""

    http: httpx.Client

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Provided by `Client`."""
        raise NotImplementedError

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Provided by `Client`."""
        raise NotImplementedError

    # models ----------------------------------------------------------------------------

    def list_models(self, **filters: Any) -> dict[str, Any]:
        """A page of models: filters q, objective, format, tag, limit, offset."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self.json("GET", "/api/v1/models", params=params)
        return result

    def get_model(self, name: str) -> dict[str, Any]:
        """One model."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/models/{name}")
        return result

    def create_model(self, name: str, format: str, **fields: Any) -> dict[str, Any]:
        """Create a model entry (title, objective, description, tags, visibility)."""
        body = {"name": name, "format": format, **fields}
        result: dict[str, Any] = self.json("POST", "/api/v1/models", json=body)
        return result

    def update_model(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change a model's fields."""
        result: dict[str, Any] = self.json("PATCH", f"/api/v1/models/{name}", json=changes)
        return result

    def delete_model(self, name: str) -> None:
        """Delete a model and its files."""
        self.request("DELETE", f"/api/v1/models/{name}")

    def upload_model_version(
        self, name: str, files: list[str | Path], metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Upload files (streamed from disk) as a new model version."""
        return self._upload(f"/api/v1/models/{name}/versions", files, metadata)

    def get_model_version(self, name: str, version: int) -> dict[str, Any]:
        """One model version."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/models/{name}/versions/{version}")
        return result

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        """Point an alias at a version."""
        result: dict[str, Any] = self.json(
            "PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": version}
        )
        return result

    def register_endpoint(
        self, name: str, url: str, protocol: str, **fields: Any
    ) -> dict[str, Any]:
        """Register a remote KServe v1/v2 or OpenAI-compatible endpoint as a model."""
        body = {"name": name, "url": url, "protocol": protocol, **fields}
        result: dict[str, Any] = self.json("POST", "/api/v1/models/endpoints", json=body)
        return result

    def download_model_file(self, name: str, version: int, path: str, dest: str | Path) -> Path:
        """Download one file of a model version to `dest`."""
        return self._download(f"/api/v1/models/{name}/versions/{version}/files/{path}", dest)

    # datasets --------------------------------------------------------------------------

    def list_datasets(self, **filters: Any) -> dict[str, Any]:
        """A page of datasets: filters q, format, tag, limit, offset."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self.json("GET", "/api/v1/datasets", params=params)
        return result

    def get_dataset(self, name: str) -> dict[str, Any]:
        """One dataset."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/datasets/{name}")
        return result

    def create_dataset(self, name: str, format: str, **fields: Any) -> dict[str, Any]:
        """Create a dataset entry (title, description, tags, visibility)."""
        body = {"name": name, "format": format, **fields}
        result: dict[str, Any] = self.json("POST", "/api/v1/datasets", json=body)
        return result

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset and its files."""
        self.request("DELETE", f"/api/v1/datasets/{name}")

    def upload_dataset_version(
        self, name: str, files: list[str | Path], metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Upload files (streamed from disk) as a new dataset version."""
        return self._upload(f"/api/v1/datasets/{name}/versions", files, metadata)

    def add_remote_dataset_version(
        self, name: str, urls: list[str], description: str = ""
    ) -> dict[str, Any]:
        """Register remote ROOT files (root:// or https:// URLs) as a new dataset version."""
        body = {"urls": urls, "description": description}
        result: dict[str, Any] = self.json(
            "POST", f"/api/v1/datasets/{name}/versions/remote", json=body
        )
        return result

    def get_dataset_version(self, name: str, version: int) -> dict[str, Any]:
        """One dataset version with its schema and preview."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/datasets/{name}/versions/{version}")
        return result

    def download_dataset_file(self, name: str, version: int, path: str, dest: str | Path) -> Path:
        """Download one file of a dataset version to `dest`."""
        return self._download(f"/api/v1/datasets/{name}/versions/{version}/files/{path}", dest)

    # shared ----------------------------------------------------------------------------

    def _upload(
        self, path: str, files: list[str | Path], metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        with ExitStack() as stack:
            parts: list[tuple[str, tuple[str, BinaryIO, str]]] = []
            for item in files:
                local = Path(item)
                handle = stack.enter_context(local.open("rb"))
                parts.append(("file", (local.name, handle, "application/octet-stream")))
            data = {"metadata": json.dumps(metadata)} if metadata else None
            result: dict[str, Any] = self.json("POST", path, files=parts, data=data)
            return result

    def _download(self, path: str, dest: str | Path) -> Path:
        from aiplayground.sdk.client import raise_for_error

        target = Path(dest)
        with self.http.stream("GET", path) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1024 * 1024):
                    out.write(chunk)
        return target
