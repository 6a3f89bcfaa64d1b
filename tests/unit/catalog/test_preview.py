"""Dataset descriptions: schemas and previews, and clean refusals of broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aiplayground.catalog.preview import describe_dataset, json_safe
from aiplayground.catalog.schemas import DatasetFormat
from aiplayground.errors import ValidationFailed

HZZ = Path("/work/shared/data/hep/uproot-HZZ.root")


def write(folder: Path, name: str, data: bytes | str) -> tuple[str, Path]:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return name, path


# csv ------------------------------------------------------------------------------------


def test_csv_schema_preview_and_formula_cells(tmp_path: Path) -> None:
    text = 'name,score,note\nann,1.5,=HYPERLINK("http://evil")\nbob,NaN,@SUM(A1)\n"multi\nline",3,+1-2\n'
    description = describe_dataset(DatasetFormat.CSV, [write(tmp_path, "s.csv", text)])
    schema = description.schema
    assert schema["columns"] == [
        {"name": "name", "type": "string"},
        {"name": "score", "type": "double"},
        {"name": "note", "type": "string"},
    ]
    assert schema["rows"] == 3
    assert schema["encoding"] == "utf-8"
    assert description.preview == {
        "columns": ["name", "score", "note"],
        "rows": [
            ["ann", 1.5, '=HYPERLINK("http://evil")'],
            ["bob", None, "@SUM(A1)"],
            ["multi\nline", 3.0, "+1-2"],
        ],
    }


def test_csv_preview_stops_at_twenty_rows(tmp_path: Path) -> None:
    text = "a;b\n" + "".join(f"{i};x{i}\n" for i in range(1000))
    description = describe_dataset(DatasetFormat.CSV, [write(tmp_path, "d.csv", text)])
    assert description.schema["rows"] == 1000
    assert description.schema["delimiter"] == ";"
    assert description.preview is not None
    assert len(description.preview["rows"]) == 20


def test_latin1_csv_is_read_and_reported(tmp_path: Path) -> None:
    data = "name,city\nJosé,Köln\n".encode("latin-1")
    description = describe_dataset(DatasetFormat.CSV, [write(tmp_path, "l.csv", data)])
    assert description.schema["encoding"] == "latin-1"
    assert description.preview is not None
    assert description.preview["rows"] == [["José", "Köln"]]


def test_csv_with_a_2mb_line_is_refused(tmp_path: Path) -> None:
    text = "a,b\n1,2\n" + "3," + "x" * (2 * 1024 * 1024) + "\n4,5\n"
    with pytest.raises(ValidationFailed, match="line longer than"):
        describe_dataset(DatasetFormat.CSV, [write(tmp_path, "long.csv", text)])


def test_csv_with_too_many_columns_is_refused(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(10_001))
    with pytest.raises(ValidationFailed, match="10001 columns"):
        describe_dataset(DatasetFormat.CSV, [write(tmp_path, "wide.csv", header + "\n")])


def test_ragged_or_empty_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="same number of fields"):
        describe_dataset(DatasetFormat.CSV, [write(tmp_path, "r.csv", "a,b\n1,2\n3,4,5\n")])
    with pytest.raises(ValidationFailed, match="empty"):
        describe_dataset(DatasetFormat.CSV, [write(tmp_path, "e.csv", "")])


def test_several_files_describe_the_first_matching_and_list_all(tmp_path: Path) -> None:
    files = [write(tmp_path, "README.md", "# data"), write(tmp_path, "d.csv", "a\n1\n")]
    description = describe_dataset(DatasetFormat.CSV, files)
    assert description.schema["file"] == "d.csv"
    assert [f["name"] for f in description.schema["files"]] == ["README.md", "d.csv"]


# parquet --------------------------------------------------------------------------------


def test_parquet_schema_and_preview(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": list(range(50)),
            "text": ["x" * 300] + ["short"] * 49,
            "value": [float("nan")] + [1.0] * 49,
            "blob": [b"\x00\xff"] * 50,
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    description = describe_dataset(DatasetFormat.PARQUET, [("t.parquet", tmp_path / "t.parquet")])
    assert description.schema["rows"] == 50
    assert [c["type"] for c in description.schema["columns"]] == [
        "int64",
        "string",
        "double",
        "binary",
    ]
    assert description.preview is not None
    rows = description.preview["rows"]
    assert len(rows) == 20
    assert len(rows[0][1]) == 200
    assert rows[0][2] is None
    assert isinstance(rows[0][3], str)
    json.dumps(description.preview, allow_nan=False)


def test_corrupt_parquet_is_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2, 3]}), tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    for name, broken in {
        "garbage.parquet": b"PAR1 not really",
        "cut.parquet": data[: len(data) // 2],
    }.items():
        with pytest.raises(ValidationFailed, match="not a readable Parquet file"):
            describe_dataset(DatasetFormat.PARQUET, [write(tmp_path, name, broken)])


# json -----------------------------------------------------------------------------------


def test_json_array_and_json_lines(tmp_path: Path) -> None:
    array = write(tmp_path, "a.json", json.dumps([{"a": i, "b": [i]} for i in range(30)]))
    description = describe_dataset(DatasetFormat.JSON, [array])
    assert description.schema["columns"] == [
        {"name": "a", "type": "integer"},
        {"name": "b", "type": "array"},
    ]
    assert description.schema["rows"] == 30
    assert description.preview is not None
    assert description.preview["rows"][1] == [1, "[1]"]
    lines = write(tmp_path, "l.jsonl", '{"a": 1}\n\n{"a": 2, "c": "x"}\n"plain"\n')
    description = describe_dataset(DatasetFormat.JSON, [lines])
    assert description.schema["rows"] == 3
    assert description.preview == {
        "columns": ["a", "c", "value"],
        "rows": [[1, None, None], [2, "x", None], [None, None, "plain"]],
    }


@pytest.mark.parametrize("text", ['[{"a": 1}, {"a": ', "[1 2]", "[" * 100_000])
def test_broken_json_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValidationFailed):
        describe_dataset(DatasetFormat.JSON, [write(tmp_path, "b.json", text)])


# root and documents ---------------------------------------------------------------------


@pytest.fixture
def hzz(tmp_path: Path) -> Path:
    pytest.importorskip("uproot", reason="uproot is not installed: pip install uproot awkward")
    if not HZZ.exists():
        pytest.skip(f"{HZZ} is missing")
    return Path(shutil.copy(HZZ, tmp_path / "hzz.root"))


def test_root_trees_and_jagged_branches(hzz: Path) -> None:
    description = describe_dataset(DatasetFormat.ROOT, [("hzz.root", hzz)])
    (events,) = description.schema["trees"]
    assert events["name"] == "events"
    assert events["entries"] == 2421
    branches = {b["name"]: b for b in events["branches"]}
    assert branches["Jet_Px"] == {"name": "Jet_Px", "type": "var * float32", "jagged": True}
    assert branches["NJet"]["jagged"] is False
    assert description.preview is None


@pytest.mark.parametrize("keep", [1000, 100_000])
def test_truncated_root_is_refused(hzz: Path, keep: int) -> None:
    hzz.write_bytes(hzz.read_bytes()[:keep])
    with pytest.raises(ValidationFailed, match="not a readable ROOT file") as caught:
        describe_dataset(DatasetFormat.ROOT, [("hzz.root", hzz)])
    assert str(hzz.parent) not in caught.value.message  # no server paths in user messages


def test_documents_are_listed(tmp_path: Path) -> None:
    files = [write(tmp_path, "a.PDF", b"%PDF-1.4"), write(tmp_path, "notes.md", "# x")]
    description = describe_dataset(DatasetFormat.DOCUMENTS, files)
    assert description.schema == {
        "files": [
            {"name": "a.PDF", "size": 8, "suffix": ".pdf"},
            {"name": "notes.md", "size": 3, "suffix": ".md"},
        ],
        "count": 2,
        "bytes": 11,
    }
    assert description.preview is None


def test_json_safe_values() -> None:
    assert json_safe(float("inf")) is None
    assert json_safe(b"abc") == "abc"
    assert json_safe({"k": [1]}) == '{"k": [1]}'
    assert len(json_safe("y" * 1000)) == 200
