"""Training calls of the SDK: recipes, jobs, their logs and metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from aiplayground.errors import UpstreamTimeout

TERMINAL = ("succeeded", "failed", "cancelled")


class TrainingMixin:
    """Methods for /api/v1/recipes and /api/v1/jobs (mixed into `Client`)."""

    http: httpx.Client

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Provided by `Client`."""
        raise NotImplementedError

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Provided by `Client`."""
        raise NotImplementedError

    def list_recipes(self) -> list[dict[str, Any]]:
        """Every recipe, with its description and parameter schema."""
        items: list[dict[str, Any]] = self.json("GET", "/api/v1/recipes")["items"]
        return items

    def submit_job(
        self,
        recipe: str,
        *,
        model: str,
        dataset: str | None = None,
        params: dict[str, Any] | None = None,
        dataset_version: int | None = None,
        resources: dict[str, Any] | None = None,
        executor: str | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Queue a job; the answer is the job with its id and status."""
        body: dict[str, Any] = {
            "recipe": recipe,
            "model": model,
            "dataset": dataset,
            "params": params or {},
            "dataset_version": dataset_version,
            "resources": resources or {},
            "executor": executor,
            "description": description,
        }
        result: dict[str, Any] = self.json("POST", "/api/v1/jobs", json=body)
        return result

    def list_jobs(
        self,
        *,
        status: str | None = None,
        parent: str | None = None,
        limit: int = 50,
        offset: int = 0,
        everyone: bool = False,
    ) -> dict[str, Any]:
        """A page of jobs, newest first (`parent`: a search's trials; `everyone`: all users',
        for admins)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        if parent:
            params["parent"] = parent
        if everyone:
            params["all"] = "true"
        result: dict[str, Any] = self.json("GET", "/api/v1/jobs", params=params)
        return result

    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/jobs/{job_id}")
        return result

    def job_logs(self, job_id: str, *, after: int = 0) -> str:
        """The job's log so far (after a cursor)."""
        response = self.request("GET", f"/api/v1/jobs/{job_id}/logs", params={"after": after})
        return response.text

    def follow_job_logs(self, job_id: str) -> Iterator[str]:
        """The job's log, then its new output as it comes, until the job ends."""
        from aiplayground.sdk.client import raise_for_error

        url = f"/api/v1/jobs/{job_id}/logs"
        with self.http.stream("GET", url, params={"follow": "true"}, timeout=None) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            yield from response.iter_text()

    def job_metrics(self, job_id: str) -> dict[str, Any]:
        """Every metric value the job reported, per step and grouped by name."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/jobs/{job_id}/metrics")
        return result

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a job."""
        result: dict[str, Any] = self.json("POST", f"/api/v1/jobs/{job_id}/cancel")
        return result

    def trials(self, job_id: str) -> dict[str, Any]:
        """The trials of a search job: `items` (number, params, value, state, job_id), `best`."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/jobs/{job_id}/trials")
        return result

    def delete_job(self, job_id: str) -> None:
        """Delete an ended job (its logs, metrics, files; a search's trials too)."""
        self.request("DELETE", f"/api/v1/jobs/{job_id}")

    def wait_for_job(
        self, job_id: str, *, timeout: float = 3600.0, poll: float = 1.0
    ) -> dict[str, Any]:
        """Poll until the job has ended; the job. UpstreamTimeout past `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["status"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise UpstreamTimeout(f"job {job_id} is still {job['status']} after {timeout:g} s")
            time.sleep(poll)
