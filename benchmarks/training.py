"""Training: the tabular recipe through the platform against XGBoost called directly.

    .venv/bin/python benchmarks/training.py [--rows 500000] [--rounds 300] [--repeats 2]

Same data (a synthetic 28-feature binary classification, as Parquet), same split, same
booster parameters and thread count on both sides, in the same run:

- `direct`: a fresh Python process reads the Parquet file, splits, trains, saves the
  booster and predicts the validation part (what a user's script does);
- `platform`: a job submitted to a worker of a platform in a temporary data folder,
  timed from submission to `succeeded` (claim, job process, dataset copy, per-round
  metrics, model registration in the catalog).

Two comparisons: the fit (matrices, boosting, saving, validation predictions: the job
logs its own time for these steps) and the whole (script against submit-to-succeeded).

Then the latency from submission to `running` on an idle worker, over `--latency-jobs`
small jobs submitted one at a time. Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FEATURES = 28
DIRECT = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd, xgboost as xgb
from aiplayground.training.data import split_rows
path, out, rounds, threads, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), 0
frame = pd.read_parquet(path)
y = frame.pop("label").to_numpy()
x = frame.to_numpy(dtype="float64")
train, valid = split_rows(y, 0.2, seed, stratify=True)
params = {"objective": "binary:logistic", "eval_metric": "logloss", "eta": 0.1, "max_depth": 6,
          "nthread": threads, "seed": seed}
# The steps the recipe times as its fit: matrices, boosting, saving, validation predictions.
t1 = time.perf_counter()
dtrain = xgb.DMatrix(x[train], label=y[train]); dvalid = xgb.DMatrix(x[valid], label=y[valid])
booster = xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dvalid, "validation")],
                    verbose_eval=False)
booster.save_model(out)
booster.predict(dvalid)
print(time.perf_counter() - t1, time.perf_counter() - t0)
"""
FIT_LINE = re.compile(r"fit and validation predictions: ([0-9.]+) s")


def make_data(path: Path, rows: int, seed: int = 0) -> None:
    """A reproducible binary classification table with FEATURES numeric columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    w = rng.normal(size=FEATURES)
    logits = x @ w / np.sqrt(FEATURES) + 0.5 * np.sin(3 * x[:, 0]) * x[:, 1]
    label = (logits + rng.logistic(size=rows) * 0.5 > 0).astype(np.int64)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
    frame["label"] = label
    frame.to_parquet(path)


def run_direct(data: Path, rounds: int, threads: int, out: Path) -> tuple[float, float]:
    """(fit seconds, whole script seconds) of the direct run, in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DIRECT, str(data), str(out), str(rounds), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    fit, _ = (float(v) for v in done.stdout.split())
    return fit, wall


class Bench:
    """A platform in a temporary folder with one in-process worker."""

    def __init__(self, home: Path, threads: int) -> None:
        from aiplayground.app import build_platform
        from aiplayground.auth.principal import Role
        from aiplayground.settings import Settings
        from aiplayground.training.service import TrainingService, job_principal
        from aiplayground.training.worker import Worker

        settings = Settings(
            home=home,
            demo=False,
            server={"ui": False},  # type: ignore[arg-type]
            training={"poll_interval_s": 0.5},  # type: ignore[arg-type]
        )
        self.platform = build_platform(settings)
        with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON result
            self.platform.start()
        self.service = TrainingService(self.platform.db, settings.training, self.platform.datasets)
        user = self.platform.auth.ensure_user("bench", Role.MEMBER)
        principal = job_principal(self.platform.db, user.id)
        assert principal is not None
        self.caller = principal
        self.threads = threads
        self.stop = threading.Event()
        self.worker = threading.Thread(
            target=Worker(self.platform).run, args=(self.stop,), daemon=True
        )
        self.worker.start()

    def dataset(self, name: str, path: Path) -> None:
        """Register a Parquet file as a dataset."""
        from aiplayground.catalog.files import IncomingFile
        from aiplayground.catalog.schemas import DatasetCreate, DatasetVersionMetadata

        self.platform.datasets.create(self.caller, DatasetCreate(name=name, format="parquet"))
        self.platform.datasets.add_version(
            self.caller, name, [IncomingFile(path.name, path)], DatasetVersionMetadata()
        )

    def submit(self, dataset: str, model: str, params: dict[str, Any]) -> str:
        """Queue a tabular job; its id."""
        from aiplayground.training.schemas import JobSubmit

        body = JobSubmit(
            recipe="tabular",
            dataset=dataset,
            model=model,
            params=params,
            resources={"cpus": self.threads},  # type: ignore[arg-type]
        )
        return self.service.submit(self.caller, body).id

    def wait(self, job_id: str, until: tuple[str, ...], poll: float = 0.01) -> Any:
        """Poll until the job's status is one of `until`."""
        while True:
            job = self.service.get(self.caller, job_id)
            if job.status.value in until:
                return job
            time.sleep(poll)

    def close(self) -> None:
        """Stop the worker and the platform."""
        self.stop.set()
        self.worker.join(30)
        self.platform.close()


def main() -> None:
    """Run both sides, then the latency probe, and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--latency-jobs", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aip-bench-") as tmp:
        root = Path(tmp)
        data = root / "table.parquet"
        make_data(data, args.rows)
        bench = Bench(root / "home", args.threads)
        try:
            bench.dataset("bench-table", data)
            params = {
                "target": "label",
                "library": "xgboost",
                "n_estimators": args.rounds,
                "max_depth": 6,
                "learning_rate": 0.1,
                "validation_fraction": 0.2,
            }
            direct, platform, platform_fit = [], [], []
            phases: list[dict[str, float]] = []
            for i in range(args.repeats):
                # Alternating sides, so that the noise of a shared machine hits both alike.
                direct.append(run_direct(data, args.rounds, args.threads, root / f"d{i}.json"))
                started = time.perf_counter()
                job_id = bench.submit("bench-table", "bench-model", params)
                # Polled slowly: a busy poll would take CPU from the job it measures.
                job = bench.wait(job_id, ("succeeded", "failed"), poll=0.1)
                platform.append(time.perf_counter() - started)
                assert job.status.value == "succeeded", job.reason
                log_text, _, _ = bench.service.logs(bench.caller, job_id)
                fit_line = FIT_LINE.search(log_text)
                assert fit_line is not None, log_text
                platform_fit.append(float(fit_line.group(1)))
                assert job.started_at is not None
                assert job.finished_at is not None
                phases.append(
                    {
                        "queued_s": round((job.started_at - job.created_at).total_seconds(), 3),
                        "running_s": round((job.finished_at - job.started_at).total_seconds(), 3),
                    }
                )
            latency = latency_probe(bench, root, args.latency_jobs)
        finally:
            bench.close()
    direct_fit = statistics.median(d[0] for d in direct)
    direct_wall = statistics.median(d[1] for d in direct)
    platform_wall = statistics.median(platform)
    fit = statistics.median(platform_fit)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "features": FEATURES,
                "rounds": args.rounds,
                "threads": args.threads,
                "repeats": args.repeats,
                "direct_fit_s": round(direct_fit, 3),
                "platform_fit_s": round(fit, 3),
                "fit_overhead": round(fit / direct_fit - 1, 4),
                "direct_script_s": round(direct_wall, 3),
                "platform_submit_to_succeeded_s": round(platform_wall, 3),
                "overhead_vs_direct_script": round(platform_wall / direct_wall - 1, 4),
                "direct_runs_s": [round(d[1], 3) for d in direct],
                "platform_runs_s": [round(p, 3) for p in platform],
                "direct_fit_runs_s": [round(d[0], 3) for d in direct],
                "platform_fit_runs_s": [round(f, 3) for f in platform_fit],
                "platform_phases": phases,
                **latency,
            },
            indent=2,
        )
    )


def latency_probe(bench: Bench, root: Path, jobs: int) -> dict[str, float]:
    """Submit small jobs one at a time to the idle worker; submit -> running latency."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    small = root / "iris.parquet"
    frame.to_parquet(small)
    bench.dataset("bench-iris", small)
    params = {"target": "target", "library": "lightgbm", "n_estimators": 5}
    observed, recorded = [], []
    jitter = random.Random(0)
    for _ in range(jobs):
        # Let the worker go idle again, at a random point of its poll interval.
        time.sleep(1.0 + jitter.random())
        started = time.perf_counter()
        job_id = bench.submit("bench-iris", "bench-iris-model", params)
        running = bench.wait(job_id, ("running", "succeeded", "failed"), poll=0.005)
        observed.append(time.perf_counter() - started)
        assert running.started_at is not None
        info = bench.service.get(bench.caller, job_id)
        recorded.append((running.started_at - info.created_at).total_seconds())
        bench.wait(job_id, ("succeeded", "failed"))
    return {
        "submit_to_running_p50_s": round(statistics.median(observed), 3),
        "submit_to_running_max_s": round(max(observed), 3),
        "claim_latency_p50_s": round(statistics.median(recorded), 3),
    }


if __name__ == "__main__":
    main()
