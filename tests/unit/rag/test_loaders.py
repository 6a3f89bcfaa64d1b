"""Text extraction per format, and the DOCX zip checks (run in-process here)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from aiplayground.rag.loaders import ExtractionError, check_zip, decode, detect_format, extract
from tests.unit.rag.files import make_docx, make_pdf, make_zip_bomb

pytest.importorskip("pypdf")


def test_formats_by_extension() -> None:
    assert detect_format("Report.PDF") == "pdf"
    assert detect_format("notes.md") == "markdown"
    assert detect_format("page.htm") == "html"
    assert detect_format("data.csv") == "csv"
    assert detect_format("paper.docx") == "docx"
    assert detect_format("run.exe") is None


def test_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(make_pdf(["first page text", "", "third page text"]))
    sections = extract(path, "pdf")
    assert [(s.page, s.text.strip()) for s in sections] == [
        (1, "first page text"),
        (3, "third page text"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pdf at all", "not a PDF"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "damaged"),
    ],
)
def test_bad_pdfs_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    with pytest.raises(ExtractionError, match=message):
        extract(path, "pdf")


def test_markdown_headings_become_metadata(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text(
        "intro line\n# Title\ntext one\n## Part\ntext two\n```\n# not a heading\n```\n"
        "# Other\ntext three\n"
    )
    sections = extract(path, "markdown")
    assert [s.heading for s in sections] == ["", "Title", "Title > Part", "Other"]
    assert "# not a heading" in sections[2].text


def test_html_drops_scripts_and_keeps_headings(tmp_path: Path) -> None:
    path = tmp_path / "a.html"
    path.write_text(
        "<html><head><title>t</title><script>alert('x')</script><style>p{}</style></head>"
        "<body><p>lead</p><h1>Top</h1><p>one</p><h2>Sub <b>part</b></h2><p>two</p>"
        "<img src='http://example.com/x.png' onerror='alert(1)'></body></html>"
    )
    sections = extract(path, "html")
    text = "\n".join(s.text for s in sections)
    assert "alert" not in text
    assert "p{}" not in text
    assert [s.heading for s in sections] == ["", "Top", "Top > Sub part"]
    assert "two" in sections[-1].text


def test_csv_rows_become_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("name,energy\nproton,938\n=cmd|' /C calc'!A0,1\n")
    (section,) = extract(path, "csv")
    assert section.text.splitlines() == [
        "name: proton; energy: 938",
        "name: =cmd|' /C calc'!A0; energy: 1",
    ]


def test_docx_headings_and_text(tmp_path: Path) -> None:
    pytest.importorskip("docx")
    path = make_docx(tmp_path / "a.docx", "Detector", ["The calorimeter has 12 layers."])
    sections = extract(path, "docx")
    assert sections[0].heading == "Detector"
    assert "12 layers" in sections[0].text


def test_zip_bomb_renamed_docx_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="zip bomb"):
        check_zip(make_zip_bomb(tmp_path / "bomb.docx", megabytes=4))


def test_a_zip_without_a_document_is_not_a_docx(tmp_path: Path) -> None:
    path = tmp_path / "x.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ExtractionError, match=r"word/document\.xml"):
        extract(path, "docx")


def test_text_decoding() -> None:
    assert decode("caffè".encode()) == "caffè"
    assert decode("caffè".encode("latin-1")) == "caffè"
    assert decode("hi".encode("utf-16")) == "hi"
