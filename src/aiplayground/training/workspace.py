"""A job's folder under `$AIP_HOME/jobs/<id>`, as the worker prepares and reads it.

The worker copies the dataset in (the job never sees the artifact store; remote files of a
dataset version are streamed from their URLs, so a job reads only local files), mirrors
checkpoints to the artifact store (so a retry on another host resumes too), tails the
job's log and metrics, and picks up its result, refusing files outside `output/`.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pydantic import ValidationError

from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import FileEntry
from aiplayground.errors import MissingDependency, PlaygroundError, TooLarge
from aiplayground.storage import ArtifactStore
from aiplayground.training.context import (
    CHECKPOINT_DIR,
    DATA_DIR,
    ERROR_FILE,
    LOG_FILE,
    OUTPUT_DIR,
    RESULT_FILE,
    SPEC_FILE,
    JobSpec,
    confined,
)
from aiplayground.training.recipes.base import RecipeResult

if TYPE_CHECKING:
    from aiplayground.hep.remote import RemoteFiles

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
REMOTE_CHUNK = 8 * 1024 * 1024
ALIVE_EVERY = 64 * 1024 * 1024
MAX_METRIC_LINE = 64 * 1024


def checkpoint_prefix(job_id: str) -> str:
    """Where a job's checkpoints are mirrored in the artifact store."""
    return f"jobs/{job_id}/checkpoints"


def prepare(
    root: Path,
    spec: JobSpec,
    storage: ArtifactStore,
    files: list[FileEntry],
    alive: Callable[[], None] = lambda: None,
    remote: RemoteFiles | None = None,
    note: Callable[[str], None] = lambda _: None,
) -> None:
    """Create the folder, copy the dataset in, restore checkpoints, write `job.json`.

    `alive` is called as the copy goes, so a long copy does not look like a dead worker.
    Remote files are streamed through `remote` (its outbound policy and size bound), with
    progress lines given to `note` for the job's log.
    """
    root.mkdir(parents=True, exist_ok=True)
    data = root / DATA_DIR
    for entry in files:
        target = confined(data, entry.path)
        if target.exists() and target.stat().st_size == entry.size:
            continue  # copied by an earlier attempt on this host
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        if entry.url is not None:
            if remote is None:
                raise MissingDependency("this worker cannot read remote dataset files")
            _copy_remote(remote, entry, partial, alive, note)
        else:
            with storage.open(entry.key) as source, partial.open("wb") as sink:
                _copy(source, sink, READ_CHUNK, alive)
        partial.replace(target)
    checkpoints = root / CHECKPOINT_DIR
    if not any(checkpoints.glob("*")):
        restore_checkpoints(storage, spec.job_id, checkpoints)
    for stale in (RESULT_FILE, ERROR_FILE):
        (root / stale).unlink(missing_ok=True)
    shutil.rmtree(root / OUTPUT_DIR, ignore_errors=True)
    (root / SPEC_FILE).write_text(spec.model_dump_json(indent=1))


def _copy(
    source: BinaryIO | io.RawIOBase,
    sink: BinaryIO,
    chunk_size: int,
    alive: Callable[[], None],
    progress: Callable[[int], None] = lambda _: None,
    limit: int | None = None,
) -> int:
    copied = 0
    while chunk := source.read(chunk_size):
        copied += len(chunk)
        if limit is not None and copied > limit:
            raise TooLarge(f"the file is larger than {limit} bytes")
        sink.write(chunk)
        if copied % ALIVE_EVERY < len(chunk):
            alive()
            progress(copied)
    return copied


def _copy_remote(
    remote: RemoteFiles,
    entry: FileEntry,
    partial: Path,
    alive: Callable[[], None],
    note: Callable[[str], None],
) -> None:
    """Stream one remote file into `partial`, bounded by the copy limit, with progress notes."""
    limit = remote.max_copy_bytes
    with remote.open(entry.url or "") as source:
        size = source.size
        if size > limit:
            raise TooLarge(
                f"{entry.url} holds {_mib(size)}, more than the {_mib(limit)} a job may copy"
            )
        note(f"copying {entry.path} ({_mib(size)}) from {entry.url}")

        def progress(copied: int) -> None:
            note(f"copied {_mib(copied)} of {_mib(size)} of {entry.path}")

        with partial.open("wb") as sink:
            copied = _copy(source, sink, REMOTE_CHUNK, alive, progress, limit)
    if copied != size:
        raise ValueError(f"{entry.url} ended after {copied} of its {size} bytes")
    note(f"copied {entry.path}")


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def restore_checkpoints(storage: ArtifactStore, job_id: str, target: Path) -> int:
    """Copy mirrored checkpoints of a job back into its folder; how many."""
    prefix = checkpoint_prefix(job_id)
    restored = 0
    for key in storage.list(prefix):
        path = confined(target, key[len(prefix) + 1 :])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(storage.read_bytes(key))
        restored += 1
    return restored


@dataclass
class CheckpointMirror:
    """Uploads a job's checkpoint files when they change."""

    storage: ArtifactStore
    job_id: str
    root: Path
    seen: dict[str, tuple[float, int]] = field(default_factory=dict)

    def sync(self) -> None:
        """Upload new or changed checkpoint files (names the store refuses are skipped)."""
        folder = self.root / CHECKPOINT_DIR
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            if not path.is_file() or path.is_symlink() or path.suffix in (".tmp", ".part"):
                continue
            stat = path.stat()
            relative = path.relative_to(folder).as_posix()
            if self.seen.get(relative) == (stat.st_mtime, stat.st_size):
                continue
            try:
                with path.open("rb") as f:
                    self.storage.put_stream(f"{checkpoint_prefix(self.job_id)}/{relative}", f)
            except (PlaygroundError, OSError) as exc:
                log.warning("checkpoint %s of job %s not mirrored: %s", relative, self.job_id, exc)
            self.seen[relative] = (stat.st_mtime, stat.st_size)


@dataclass
class LogTail:
    """Reads what a job appended to its log since the last call, as text."""

    path: Path
    offset: int = 0
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def read(self, limit: int = READ_CHUNK) -> str:
        """New text, at most about `limit` bytes of it."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(limit)
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        return self.decoder.decode(data)


@dataclass
class MetricsTail:
    """Reads the complete lines a job appended to `metrics.jsonl`."""

    path: Path
    offset: int = 0

    def read(self) -> tuple[list[tuple[int, str, float]], float | None]:
        """New metric points (step, name, value) and the latest progress, if any."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(READ_CHUNK)
        except FileNotFoundError:
            return [], None
        end = data.rfind(b"\n")
        if end < 0:
            return [], None
        self.offset += end + 1
        points: list[tuple[int, str, float]] = []
        progress: float | None = None
        for line in data[:end].splitlines():
            if len(line) > MAX_METRIC_LINE:
                continue
            try:
                event = json.loads(line)
                if event.get("type") == "progress":
                    progress = min(1.0, max(0.0, float(event["value"])))
                elif event.get("type") == "metric":
                    step = int(event["step"])
                    for name, value in dict(event["values"]).items():
                        points.append((step, str(name)[:64], float(value)))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # a job's output is untrusted: skip what does not parse
        return points, progress


@dataclass(frozen=True)
class Outcome:
    """What an ended job left: its result, or why it has none and whether to try again."""

    result: RecipeResult | None = None
    reason: str = ""
    reported: bool = False
    retry: bool = False


def outcome(root: Path) -> Outcome:
    """Read the job's result or error report."""
    error = root / ERROR_FILE
    if error.is_file():
        try:
            report = json.loads(error.read_text())
            return Outcome(
                reason=str(report["message"])[:4000],
                reported=True,
                retry=report.get("retry") is True,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return Outcome(reason="the job failed (its error report is unreadable)")
    result = root / RESULT_FILE
    if not result.is_file():
        return Outcome(reason="the job ended without a result")
    try:
        return Outcome(result=RecipeResult.model_validate_json(result.read_text()))
    except ValidationError as exc:
        return Outcome(reason=f"the job's result is invalid: {exc.errors()[0]['msg']}")


def output_files(root: Path, result: RecipeResult) -> list[IncomingFile]:
    """The result's files, each a real file inside `output/` (no links out of it)."""
    output = (root / OUTPUT_DIR).resolve()
    files = []
    for name in result.files:
        path = confined(output, name)
        if not path.is_file() or (output / name).is_symlink():
            raise ValueError(f"result file {name!r} is missing or not a regular file")
        files.append(IncomingFile(name=path.relative_to(output).as_posix(), path=path))
    return files


def log_tail(root: Path, lines: int = 5) -> str:
    """The last lines of the job's log, for a failure reason."""
    try:
        with (root / LOG_FILE).open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def clean(root: Path) -> None:
    """Remove the bulky parts of a finished job's folder (its copy of the data, temp)."""
    for name in (DATA_DIR, "tmp"):
        shutil.rmtree(root / name, ignore_errors=True)
