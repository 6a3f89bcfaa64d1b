"""Parse one file in a child process bounded in time and memory.

`parse_file` runs `python -m aiplayground.rag.parse` on the file; the child lowers its own
limits (RLIMIT_AS, RLIMIT_CPU) before it imports any parser, writes the sections as JSON
on stdout and exits. A PDF or HTML file built to exhaust the parser only kills that child:
the file fails with a message, the server and the other files go on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiplayground.rag.loaders import Section

EXIT_REFUSED = 3
EXIT_MEMORY = 4
MAX_ERROR_CHARS = 2000


class ParseFailed(Exception):
    """The file could not be parsed; the message is meant for the user."""


@dataclass
class Parsed:
    """What the parser made of a file."""

    sections: list[Section] = field(default_factory=list)
    pages: int | None = None
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        """As stored beside the document (the input of any later re-index)."""
        return {
            "sections": [asdict(s) for s in self.sections],
            "pages": self.pages,
            "truncated": self.truncated,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Parsed:
        """Read back what `to_json` wrote."""
        return cls(
            sections=[Section(**s) for s in data.get("sections", [])],
            pages=data.get("pages"),
            truncated=bool(data.get("truncated")),
        )


def parse_file(
    path: Path, fmt: str, *, timeout_s: float, memory_bytes: int, max_chars: int
) -> Parsed:
    """Parse a file in a bounded child process; ParseFailed with a reason on any failure."""
    command = [
        sys.executable,
        "-m",
        "aiplayground.rag.parse",
        "--format",
        fmt,
        "--memory",
        str(memory_bytes),
        "--cpu",
        str(int(timeout_s) + 1),
        "--max-chars",
        str(max_chars),
        str(path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group: a timeout kills all of it
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise ParseFailed(
                f"parsing took longer than {timeout_s:g} s and was stopped; the file may be "
                "built to exhaust the parser (rag.parse_timeout_s)"
            ) from None
    return _result(child.returncode, out, err, memory_bytes)


def _result(code: int, out: bytes, err: bytes, memory_bytes: int) -> Parsed:
    message = err.decode("utf-8", "replace").strip()[-MAX_ERROR_CHARS:]
    if code == 0:
        try:
            return Parsed.from_json(json.loads(out))
        except (ValueError, TypeError) as exc:
            raise ParseFailed(f"the parser's answer is unreadable: {exc}") from exc
    if code == EXIT_REFUSED:
        try:
            reason = str(json.loads(out)["error"])[:MAX_ERROR_CHARS]
        except (ValueError, TypeError, KeyError):
            reason = "the file cannot be read"
        raise ParseFailed(reason)
    if code == EXIT_MEMORY or code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGXCPU):
        raise ParseFailed(
            f"parsing needed more than the memory or CPU time allowed "
            f"({memory_bytes // 1024**2} MiB, rag.parse_memory_bytes / rag.parse_timeout_s); "
            "the file may be built to exhaust the parser"
        )
    last = message.splitlines()[-1] if message else f"exit status {code}"
    raise ParseFailed(f"the parser failed: {last}")


def _limit(memory_bytes: int, cpu_s: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _truncate(sections: list[Section], max_chars: int) -> tuple[list[Section], bool]:
    kept: list[Section] = []
    left = max_chars
    for section in sections:
        if left <= 0:
            return kept, True
        if len(section.text) > left:
            kept.append(Section(section.text[:left], section.page, section.heading))
            return kept, True
        kept.append(section)
        left -= len(section.text)
    return kept, False


def _refuse(reason: str) -> int:
    json.dump({"error": reason}, sys.stdout)
    return EXIT_REFUSED


def main(argv: list[str] | None = None) -> int:
    """The child: limit itself, parse, print JSON (exit 3 with a reason on bad input)."""
    parser = argparse.ArgumentParser(prog="aiplayground.rag.parse")
    parser.add_argument("--format", required=True)
    parser.add_argument("--memory", type=int, required=True)
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("--max-chars", type=int, required=True)
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    _limit(args.memory, args.cpu)
    # Parsers log warnings about damaged files; the reason goes back as JSON instead.
    logging.disable(logging.WARNING)
    from aiplayground.rag.loaders import ExtractionError, extract

    try:
        sections = extract(args.path, args.format)
    except ExtractionError as exc:
        return _refuse(str(exc))
    except MemoryError:
        return EXIT_MEMORY
    except RecursionError:
        return _refuse("the document nests too deeply to parse")
    if not sections:
        return _refuse("no text found in the file")
    kept, truncated = _truncate(sections, args.max_chars)
    pages = max((s.page for s in kept if s.page is not None), default=None)
    json.dump(Parsed(kept, pages, truncated).to_json(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
