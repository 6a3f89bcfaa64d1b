"""Dataset descriptions: a schema and a small preview, read without loading whole files."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import decimal
import importlib
import itertools
import json
import math
import posixpath
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiplayground.catalog.files import safe_relative_path
from aiplayground.catalog.schemas import DatasetFormat
from aiplayground.errors import ValidationFailed

PREVIEW_ROWS = 20
MAX_LINE_BYTES = 1024 * 1024
MAX_COLUMNS = 10_000
MAX_PREVIEW_COLUMNS = 200
MAX_TEXT = 200
MAX_LISTED_FILES = 10_000
MAX_BRANCHES = 2_000
MAX_TREES = 100
# Beyond this a JSON array is not parsed to the end just to count its rows.
MAX_JSON_COUNT_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_RECORD_BYTES = 16 * 1024 * 1024

SUFFIXES = {
    DatasetFormat.CSV: (".csv", ".tsv", ".tab", ".txt"),
    DatasetFormat.PARQUET: (".parquet", ".pq"),
    DatasetFormat.JSON: (".json", ".jsonl", ".ndjson"),
    DatasetFormat.ROOT: (".root",),
}


@dataclass
class DatasetDescription:
    """What a dataset version looks like: its schema and the first rows, when they exist."""

    schema: dict[str, Any]
    preview: dict[str, Any] | None


def describe_dataset(format: DatasetFormat, files: list[tuple[str, Path]]) -> DatasetDescription:
    """Describe the first file of the declared format and list all files."""
    if not files:
        raise ValidationFailed("a version needs at least one file", details={"field": "file"})
    named = [(safe_relative_path(name), path) for name, path in files]
    listing = [
        {"name": name, "size": path.stat().st_size, "suffix": _suffix(name)}
        for name, path in named[:MAX_LISTED_FILES]
    ]
    if format is DatasetFormat.DOCUMENTS:
        total = sum(path.stat().st_size for _, path in named)
        return DatasetDescription({"files": listing, "count": len(named), "bytes": total}, None)
    suffixes = SUFFIXES[format]
    name, path = next(((n, p) for n, p in named if n.lower().endswith(suffixes)), named[0])
    describe = {
        DatasetFormat.CSV: _csv,
        DatasetFormat.PARQUET: _parquet,
        DatasetFormat.JSON: _json,
        DatasetFormat.ROOT: _root,
    }[format]
    description = describe(name, path)
    description.schema.update(file=name, files=listing)
    return description


def _suffix(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": "file"})


def _reason(exc: BaseException, path: Path, name: str) -> str:
    """An error's text fit for users: the server's staging path replaced by the file name."""
    return " ".join(str(exc).replace(str(path), name).split())[:300]


def json_safe(value: Any) -> Any:
    """A value fit for a JSON preview: NaN -> None, bytes -> text, long text cut."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        value = value.isoformat()
    elif isinstance(value, decimal.Decimal):
        value = str(value)
    elif isinstance(value, dict | list | tuple):
        value = json.dumps(value, default=str, ensure_ascii=False)
    elif hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _table(columns: list[dict[str, str]], records: list[list[Any]]) -> dict[str, Any]:
    shown = columns[:MAX_PREVIEW_COLUMNS]
    return {
        "columns": [c["name"] for c in shown],
        "rows": [[json_safe(v) for v in row[: len(shown)]] for row in records[:PREVIEW_ROWS]],
    }


# csv ------------------------------------------------------------------------------------


def _scan_text(name: str, path: Path) -> str:
    """Refuse over-long lines anywhere in the file; return its encoding (utf-8 or latin-1)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, run = True, 0
    with path.open("rb") as stream:
        # Chunks are MAX_LINE_BYTES long: only a line crossing a chunk edge can be longer.
        while chunk := stream.read(MAX_LINE_BYTES):
            last = chunk.rfind(b"\n")
            if last >= 0 and run + chunk.find(b"\n") > MAX_LINE_BYTES:
                raise _too_long(name)
            run = run + len(chunk) if last < 0 else len(chunk) - last - 1
            if run > MAX_LINE_BYTES:
                raise _too_long(name)
            utf8 = utf8 and _decodes(decoder, chunk)
    return "utf-8" if utf8 and _decodes(decoder, b"", final=True) else "latin-1"


def _too_long(name: str) -> ValidationFailed:
    return _invalid(
        f"{name} has a line longer than {MAX_LINE_BYTES} bytes; is it really CSV? Shorten the "
        "lines, or upload the file as documents"
    )


def _decodes(decoder: codecs.IncrementalDecoder, data: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(data, final)
    except UnicodeDecodeError:
        return False
    return True


def _csv(name: str, path: Path) -> DatasetDescription:
    pa = importlib.import_module("pyarrow")
    pa_csv = importlib.import_module("pyarrow.csv")
    encoding = _scan_text(name, path)
    with path.open("r", encoding=encoding, newline="") as stream:
        header_line = stream.readline()
    if not header_line.strip():
        raise _invalid(f"{name} is empty or starts with a blank line; put column names first")
    if header_line.startswith("\ufeff"):
        encoding = "utf-8-sig"
    delimiter = "\t" if _suffix(name) in (".tsv", ".tab") else _delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    if len(header) > MAX_COLUMNS:
        raise _invalid(
            f"{name} has {len(header)} columns, more than {MAX_COLUMNS}; split it or store it "
            "as Parquet"
        )
    read = pa_csv.ReadOptions(encoding=encoding, block_size=2 * MAX_LINE_BYTES + 1)
    parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    try:
        # Cells are never evaluated: formula-like text (=, +, -, @) stays the text it is.
        with pa_csv.open_csv(path, read_options=read, parse_options=parse) as reader:
            schema, rows = reader.schema, _first_rows(reader)
        # Counting parses the whole file (as text, one column): a ragged row fails here too.
        read.skip_rows, read.column_names = 1, [f"c{i}" for i in range(len(schema))]
        only_first = pa_csv.ConvertOptions(include_columns=["c0"], column_types={"c0": pa.string()})
        with pa_csv.open_csv(
            path, read_options=read, parse_options=parse, convert_options=only_first
        ) as reader:
            total = sum(batch.num_rows for batch in reader)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _invalid(
            f"{name} cannot be read as CSV ({_reason(exc, path, name)}); check its delimiter, "
            "quoting and that every row has the same number of fields"
        ) from exc
    columns = [{"name": f.name, "type": str(f.type)} for f in schema]
    described = {"columns": columns, "rows": total, "encoding": encoding.removesuffix("-sig")}
    return DatasetDescription(described | {"delimiter": delimiter}, _table(columns, rows))


def _first_rows(batches: Any) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for batch in batches:
        rows.extend(list(r) for r in zip(*(c.to_pylist() for c in batch.columns), strict=True))
        if len(rows) >= PREVIEW_ROWS:
            break
    return rows[:PREVIEW_ROWS]


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# parquet --------------------------------------------------------------------------------


def _parquet(name: str, path: Path) -> DatasetDescription:
    pa = importlib.import_module("pyarrow")
    pq = importlib.import_module("pyarrow.parquet")
    try:
        with pq.ParquetFile(path) as parquet:
            schema = parquet.schema_arrow
            if len(schema) > MAX_COLUMNS:
                raise _invalid(f"{name} has {len(schema)} columns, more than {MAX_COLUMNS}")
            columns = [{"name": f.name, "type": str(f.type)} for f in schema]
            shown = [c["name"] for c in columns[:MAX_PREVIEW_COLUMNS]]
            rows = _first_rows(parquet.iter_batches(batch_size=PREVIEW_ROWS, columns=shown))
            total = parquet.metadata.num_rows
    except pa.ArrowException as exc:
        raise _invalid(
            f"{name} is not a readable Parquet file ({_reason(exc, path, name)}); write it "
            "again with pandas or pyarrow"
        ) from exc
    return DatasetDescription({"columns": columns, "rows": total}, _table(columns, rows))


# json -----------------------------------------------------------------------------------


def _json(name: str, path: Path) -> DatasetDescription:
    with _JsonValues(name, path) as values:
        records = list(itertools.islice(values, PREVIEW_ROWS))
        rows: int | None = None
        if _suffix(name) in (".jsonl", ".ndjson"):
            rows = _count_nonblank_lines(path)
        elif path.stat().st_size <= MAX_JSON_COUNT_BYTES:
            rows = len(records) + sum(1 for _ in values)
    types: dict[str, str] = {}
    for record in records:
        for key, value in record.items() if isinstance(record, dict) else [("value", record)]:
            if types.get(key, "null") == "null":
                types[key] = _json_type(value)
    columns = [{"name": k, "type": t} for k, t in list(types.items())[:MAX_COLUMNS]]
    table = [
        [
            r.get(c["name"]) if isinstance(r, dict) else (r if c["name"] == "value" else None)
            for c in columns
        ]
        for r in records
    ]
    return DatasetDescription({"columns": columns, "rows": rows}, _table(columns, table))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}.get(
        type(value), "object"
    )


class _JsonValues:
    """Top-level JSON values one by one: array elements, or JSON lines / concatenated values."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.stream = path.open("r", encoding="utf-8-sig")
        self.buffer = ""
        self.pos = 0
        self.eof = False

    def __enter__(self) -> Iterator[Any]:
        return self._values()

    def __exit__(self, *exc_info: object) -> None:
        self.stream.close()

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.stream.read(CHUNK)
        except UnicodeDecodeError as exc:
            raise _invalid(f"{self.name} is not UTF-8 text; JSON must be UTF-8") from exc
        if not chunk:
            self.eof = True
            return False
        if len(self.buffer) - self.pos > MAX_RECORD_BYTES:
            raise _invalid(f"{self.name} has a record larger than {MAX_RECORD_BYTES} bytes")
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def _skip(self, chars: str = " \t\r\n") -> str:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in chars:
                self.pos += 1
            if self.pos < len(self.buffer) or not self._fill():
                return self.buffer[self.pos : self.pos + 1]

    def _decode(self) -> Any:
        decoder = json.JSONDecoder()
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise _invalid(f"{self.name} is not valid JSON ({exc})") from exc
            except RecursionError as exc:
                raise _invalid(f"{self.name} nests too deeply") from exc
            # A number cut at the buffer's end looks complete: read on before trusting it.
            if end == len(self.buffer) and self._fill():
                continue
            self.pos = end
            return value

    def _values(self) -> Iterator[Any]:
        first = self._skip()
        if first == "[":
            self.pos += 1
            if self._skip() == "]":
                return
            while True:
                yield self._decode()
                sep = self._skip()
                self.pos += 1
                if sep == "]":
                    return
                if sep != ",":
                    raise _invalid(f"{self.name} is not valid JSON (expected ',' or ']')")
                self._skip()
        while self._skip():
            yield self._decode()


def _count_nonblank_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        for line in stream:
            count += bool(line.strip())
    return count


# root -----------------------------------------------------------------------------------


def _root(name: str, path: Path) -> DatasetDescription:
    try:
        uproot = importlib.import_module("uproot")
    except ImportError:
        return DatasetDescription({"note": "install uproot to list the trees"}, None)
    corrupt = (
        *(OSError, ValueError, KeyError, EOFError, struct.error, zlib.error),
        uproot.deserialization.DeserializationError,
    )
    trees: list[dict[str, Any]] = []
    try:
        # Only metadata is read: tree and branch headers, never the baskets holding the data.
        with uproot.open(path) as root:
            for key, classname in root.classnames().items():
                if classname not in ("TTree", "TNtuple", "TNtupleD") or len(trees) >= MAX_TREES:
                    continue
                tree = root[key]
                branches = tree.values(recursive=True)
                trees.append(
                    {
                        "name": key.rsplit(";", 1)[0],
                        "entries": int(tree.num_entries),
                        "branch_count": len(branches),
                        "branches": [_branch(uproot, tree, b) for b in branches[:MAX_BRANCHES]],
                    }
                )
    except corrupt as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise _invalid(
            f"{name} is not a readable ROOT file ({_reason(exc, path, name)}); it may be "
            "truncated or damaged: upload it again"
        ) from exc
    return DatasetDescription({"trees": trees}, None)


def _branch(uproot: Any, tree: Any, branch: Any) -> dict[str, Any]:
    interpretation = branch.interpretation
    kind = None
    if not isinstance(interpretation, uproot.interpretation.identify.UnknownInterpretation):
        try:
            kind = str(interpretation.awkward_form(tree.file).type)
        except uproot.interpretation.objects.CannotBeAwkward:
            kind = None
    return {
        "name": branch.name,
        "type": kind or branch.typename,
        "jagged": bool(kind and "var *" in kind),
    }
