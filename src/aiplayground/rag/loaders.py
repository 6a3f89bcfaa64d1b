"""Text extraction from documents: PDF, Markdown, plain text, HTML, DOCX and CSV.

These functions run inside the bounded parser process (`rag.parse`), never in the
server: a hostile file can at worst exhaust that process's time or memory.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

FORMATS: dict[str, str] = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".log": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".docx": "docx",
    ".csv": "csv",
}
# A .docx is a zip; these bound what its members may unpack to before python-docx reads it.
DOCX_MAX_MEMBERS = 5000
DOCX_MAX_BYTES = 256 * 1024**2
DOCX_MAX_RATIO = 100
DOCX_RATIO_MIN_BYTES = 1024**2
CSV_MAX_FIELD = 1024**2

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_HTML_DROP = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg")
_MARK = "\x1e"


class ExtractionError(Exception):
    """The file cannot be read as the format its name says; the message says why."""


@dataclass
class Section:
    """A run of text with one page number and one heading path."""

    text: str
    page: int | None = None
    heading: str = ""


def detect_format(name: str) -> str | None:
    """The format a file name says (by extension), or None when unsupported."""
    suffix = Path(name.lower()).suffix
    return FORMATS.get(suffix)


def extract(path: Path, fmt: str) -> list[Section]:
    """The text sections of a file in the given format."""
    reader = {
        "pdf": _pdf,
        "markdown": _markdown,
        "text": _text,
        "html": _html,
        "docx": _docx,
        "csv": _csv,
    }.get(fmt)
    if reader is None:
        raise ExtractionError(f"unsupported format {fmt!r}; supported: {', '.join(FORMATS)}")
    return [s for s in reader(path) if s.text.strip()]


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 by BOM, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 maps every byte: legacy files stay readable rather than failing.
        return data.decode("latin-1")


def _clean(text: str) -> str:
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def _pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    with path.open("rb") as stream:
        if not stream.read(1024).lstrip().startswith(b"%PDF-"):
            raise ExtractionError("not a PDF file (no %PDF- header)")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is encrypted with a password")
        sections = [
            Section(_clean(page.extract_text() or ""), page=number)
            for number, page in enumerate(reader.pages, 1)
        ]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExtractionError(f"the PDF is damaged or unreadable: {exc}") from exc
    if not any(s.text.strip() for s in sections):
        raise ExtractionError("the PDF has no text layer (a scanned document needs OCR first)")
    return sections


def _markdown(path: Path) -> list[Section]:
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    lines: list[str] = []
    fenced = False

    def flush() -> None:
        if lines:
            sections.append(Section("\n".join(lines), heading=" > ".join(t for _, t in trail)))
            lines.clear()

    for line in _clean(decode(path.read_bytes())).split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, match.group(2))]
        lines.append(line)
    flush()
    return sections


def _text(path: Path) -> list[Section]:
    return [Section(_clean(decode(path.read_bytes())))]


def _html(path: Path) -> list[Section]:
    from bs4 import BeautifulSoup

    # lxml's HTML parser neither fetches nor resolves external entities or resources.
    soup = BeautifulSoup(_clean(decode(path.read_bytes())).replace(_MARK, ""), "lxml")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(_HTML_HEADINGS):
        level = int(tag.name[1])
        title = " ".join(tag.get_text(" ").split())
        tag.replace_with(f"\n{_MARK}{level}{_MARK}{title}{_MARK}\n")
    root = soup.body or soup
    text = root.get_text("\n")
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    parts = text.split(_MARK)
    # parts: text, level, title, text, level, title, text ...
    body = parts[0]
    for index in range(1, len(parts) - 2, 3):
        sections.append(Section(_squeeze(body), heading=" > ".join(t for _, t in trail)))
        level, title = int(parts[index]), parts[index + 1]
        trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, title)]
        body = f"{title}\n{parts[index + 2]}"
    sections.append(Section(_squeeze(body), heading=" > ".join(t for _, t in trail)))
    return sections


def _squeeze(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def check_zip(path: Path) -> None:
    """Refuse a zip whose member count, declared sizes or compression ratio say bomb."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExtractionError(f"not a valid DOCX (zip) file: {exc}") from exc
    if len(members) > DOCX_MAX_MEMBERS:
        raise ExtractionError(f"the DOCX has {len(members)} parts (limit {DOCX_MAX_MEMBERS})")
    total = sum(m.file_size for m in members)
    if total > DOCX_MAX_BYTES:
        raise ExtractionError(
            f"the DOCX unpacks to {total} bytes (limit {DOCX_MAX_BYTES}): a zip bomb?"
        )
    for member in members:
        ratio = member.file_size / max(1, member.compress_size)
        if member.file_size > DOCX_RATIO_MIN_BYTES and ratio > DOCX_MAX_RATIO:
            raise ExtractionError(
                f"the DOCX part {member.filename[:100]!r} compresses {ratio:.0f}:1: a zip bomb?"
            )
    if "word/document.xml" not in {m.filename for m in members}:
        raise ExtractionError("not a DOCX file: the zip has no word/document.xml")


def _docx(path: Path) -> list[Section]:
    check_zip(path)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ExtractionError(f"the DOCX is damaged or unreadable: {exc}") from exc
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        if lines:
            sections.append(Section("\n".join(lines), heading=" > ".join(t for _, t in trail)))
            lines.clear()

    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        text = _clean(paragraph.text)
        level = _docx_heading_level(style or "")
        if level and text.strip():
            flush()
            trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, text.strip())]
        lines.append(text)
    flush()
    for table in document.tables:
        rows = [" | ".join(_clean(cell.text) for cell in row.cells) for row in table.rows]
        sections.append(Section("\n".join(rows), heading="table"))
    return sections


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.match(r"Heading (\d)", style)
    return int(match.group(1)) if match else 0


def _csv(path: Path) -> list[Section]:
    text = _clean(decode(path.read_bytes()))
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:65536])
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(CSV_MAX_FIELD)
    lines: list[str] = []
    try:
        rows = csv.reader(io.StringIO(text), dialect)
        header = next(rows, None)
        if header is None:
            return []
        names = [h.strip() or f"column {i + 1}" for i, h in enumerate(header)]
        for row in rows:
            # Rows as "column: value" text; formula cells stay inert strings here.
            cells = [
                f"{names[i] if i < len(names) else f'column {i + 1}'}: {value.strip()}"
                for i, value in enumerate(row)
                if value.strip()
            ]
            if cells:
                lines.append("; ".join(cells))
    except csv.Error as exc:
        raise ExtractionError(f"the CSV is malformed: {exc}") from exc
    return [Section("\n".join(lines))]
