"""The job process: `python -m aiplayground.training.runner JOB_FOLDER`.

Started by a worker (or by torchrun, once per rank) in the job's folder. It reads
`job.json`, runs the recipe and leaves `result.json` or `error.json` for the worker. It
dies with its parent: a job whose worker was killed must not keep running unseen.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from pydantic import ValidationError

from aiplayground.training.context import ERROR_FILE, RESULT_FILE, SPEC_FILE, JobContext, JobSpec
from aiplayground.training.recipes import load_recipe
from aiplayground.training.recipes.base import JobError

EXIT_FAILED = 1
EXIT_TERMINATED = 143
WATCH_INTERVAL_S = 0.5
PARENT_ENV = "AIP_JOB_PARENT_PID"


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    # Orphaned (the worker or the launcher died): take the whole process group down, since
    # sibling ranks of a distributed job must not wait forever for this one.
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    finally:
        os._exit(EXIT_TERMINATED)


def die_with_parent() -> None:
    """End this process group when the process that started it dies, even by SIGKILL."""
    # The starter says who it is: a parent that died before this line ran is then
    # noticed too (the process was re-parented already).
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _write(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)  # atomic: the worker never reads a half-written file


def main(argv: list[str] | None = None) -> int:
    """Run the job in the folder named on the command line; the process exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m aiplayground.training.runner JOB_FOLDER", file=sys.stderr)
        return 2
    root = Path(args[0]).resolve()
    # SIGTERM keeps its default action (end now): a rank blocked in a collective would never
    # run a Python handler, and every file a job writes is replaced atomically anyway.
    die_with_parent()
    spec = JobSpec.model_validate_json((root / SPEC_FILE).read_text())
    ctx = JobContext(root, spec)
    try:
        recipe = load_recipe(spec.recipe_module)
        params = recipe.validate(spec.params)
        if ctx.is_main:
            ctx.log(f"job {spec.job_id}: recipe {recipe.name}, attempt {spec.attempt}")
        result = recipe.run(ctx, params)
    except JobError as exc:
        return _fail(ctx, str(exc))
    except ValidationError as exc:
        return _fail(ctx, f"invalid parameters: {exc}")
    except MemoryError:
        return _fail(ctx, "the job ran out of memory")
    except Exception as exc:
        traceback.print_exc()
        # In a distributed job, a peer's death surfaces here as some error of a collective:
        # worth another attempt, which resumes from the last checkpoint.
        message = f"the recipe failed: {type(exc).__name__}: {exc}"
        return _fail(ctx, message, retry=ctx.world_size > 1)
    if ctx.is_main:
        _write(root / RESULT_FILE, result.model_dump(mode="json"))
        ctx.log("job finished")
    return 0


def _fail(ctx: JobContext, message: str, *, retry: bool = False) -> int:
    """Report a failure; `retry` says another attempt may go better (not a user error)."""
    if ctx.is_main:
        print(f"error: {message}", file=sys.stderr, flush=True)
        _write(ctx.root / ERROR_FILE, {"message": message[:4000], "retry": retry})
    return EXIT_FAILED


def leave(code: int) -> None:
    """Exit with `code`; a single process skips the interpreter's teardown.

    Unloading the ML libraries takes a third of a second that the job would wait for
    nothing: every file a job writes is closed, and replaced atomically, by now. Ranks of
    a distributed job exit normally, so that no peer sees one vanish mid-shutdown.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    leave(main())
