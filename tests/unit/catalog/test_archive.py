"""Archive extraction: hostile members are refused, bombs stop at the limit, folders unpack."""

from __future__ import annotations

import io
import struct
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from aiplayground.catalog.archive import expand_archives, extract_archive, is_archive
from aiplayground.catalog.files import IncomingFile
from aiplayground.errors import TooLarge, ValidationFailed
from aiplayground.settings import LimitSettings

MB = 1024 * 1024


def disk_usage(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for info in members:
            data = b"x" * info.size if info.isreg() else None
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tar_member(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def extract(path: Path, dest: Path, members: int = 100, size: int = 10 * MB) -> list[IncomingFile]:
    return extract_archive(path, dest, max_members=members, max_bytes=size)


@pytest.mark.parametrize(
    "name",
    ["archive.zip", "a.TAR", "a.tar.gz", "a.tgz", "a.tar.bz2", "a.tar.xz"],
)
def test_is_archive_knows_the_suffixes(name: str) -> None:
    assert is_archive(name)


@pytest.mark.parametrize("name", ["model.onnx", "data.gz", "x.zip.txt", "tar"])
def test_is_archive_refuses_other_names(name: str) -> None:
    assert not is_archive(name)


def test_nested_folders_extract(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "a.zip",
        {"top/": b"", "top/sub/data.csv": b"a,b\n1,2\n", "./top/readme.md": b"# hi", "x.txt": b"x"},
    )
    files = extract(path, tmp_path / "out")
    assert sorted(f.name for f in files) == ["top/readme.md", "top/sub/data.csv", "x.txt"]
    by_name = {f.name: f.path for f in files}
    assert by_name["top/sub/data.csv"].read_bytes() == b"a,b\n1,2\n"
    assert by_name["top/sub/data.csv"] == (tmp_path / "out" / "top/sub/data.csv").resolve()


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_flavours_extract(tmp_path: Path, mode: str) -> None:
    members = [tar_member("d", tarfile.DIRTYPE), tar_member("d/f.bin", size=5)]
    path = make_tar(tmp_path / "a.tar", members, mode)
    files = extract(path, tmp_path / "out")
    assert [(f.name, f.path.read_bytes()) for f in files] == [("d/f.bin", b"xxxxx")]


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "/etc/x", "..\\x", "C:/x", "c:x", "a\\..\\b"]
)
def test_zip_member_escaping_is_refused(tmp_path: Path, name: str) -> None:
    path = make_zip(tmp_path / "bad.zip", {"ok.txt": b"fine", name: b"evil"})
    with pytest.raises(ValidationFailed) as caught:
        extract(path, tmp_path / "out")
    assert repr(name) in caught.value.message
    assert "repack" in caught.value.message
    assert not (tmp_path / "x").exists()
    assert disk_usage(tmp_path / "out") == 0  # checked before anything is written


@pytest.mark.parametrize("name", ["../x", "/etc/x", "..\\x"])
def test_tar_member_escaping_is_refused(tmp_path: Path, name: str) -> None:
    path = make_tar(tmp_path / "bad.tar", [tar_member(name, size=3)])
    with pytest.raises(ValidationFailed, match="repack"):
        extract(path, tmp_path / "out")
    assert not (tmp_path / "x").exists()


def test_tar_symlink_is_refused(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "l.tar", [tar_member("link", tarfile.SYMTYPE, link="/etc/passwd")])
    with pytest.raises(ValidationFailed, match="'link' is a link"):
        extract(path, tmp_path / "out")
    assert not (tmp_path / "out" / "link").exists()


def test_tar_hardlink_is_refused(tmp_path: Path) -> None:
    members = [tar_member("f", size=1), tar_member("h", tarfile.LNKTYPE, link="/etc/passwd")]
    path = make_tar(tmp_path / "h.tar", members)
    with pytest.raises(ValidationFailed, match="'h' is a link"):
        extract(path, tmp_path / "out")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_devices_and_fifos_are_refused(tmp_path: Path, kind: bytes) -> None:
    path = make_tar(tmp_path / "d.tar", [tar_member("dev", kind)])
    with pytest.raises(ValidationFailed, match="device, pipe or socket"):
        extract(path, tmp_path / "out")


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as archive:
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ValidationFailed, match="symbolic link"):
        extract(tmp_path / "l.zip", tmp_path / "out")


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "d.tar", [tar_member("a", size=1), tar_member("./a", size=2)])
    with pytest.raises(ValidationFailed, match="twice"):
        extract(path, tmp_path / "out")


def test_zip_bomb_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    zeros = bytes(MB)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("z", "w") as sink,
    ):
        for _ in range(200):
            sink.write(zeros)
    assert path.stat().st_size < 1 * MB
    with pytest.raises(TooLarge, match="zip bomb"):
        extract(path, tmp_path / "out", size=10**12)
    assert disk_usage(tmp_path / "out") == 0


def test_zip_declaring_more_than_the_limit_is_refused_before_writing(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "big.zip", {f"z{i}": bytes(MB) for i in range(12)})
    with pytest.raises(TooLarge, match="declares more than 10485760 bytes"):
        extract(path, tmp_path / "out", size=10 * MB)
    assert disk_usage(tmp_path / "out") == 0


def test_zip_lying_about_sizes_never_writes_past_the_limit(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "liar.zip", {"z": bytes(5 * MB)})
    data = bytearray(path.read_bytes())
    # Declare 1000 bytes in both the local header and the central directory.
    struct.pack_into("<I", data, 22, 1000)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)
    path.write_bytes(bytes(data))
    with pytest.raises(ValidationFailed, match="damaged"):
        extract(path, tmp_path / "out", size=2 * MB)
    assert disk_usage(tmp_path / "out") <= 2 * MB


def test_tar_bomb_stops_at_the_limit_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tar_member("zeros", size=50 * MB)
        archive.addfile(info, io.BytesIO(bytes(50 * MB)))
    assert path.stat().st_size < MB
    with pytest.raises(TooLarge, match="unpacks to more than"):
        extract(path, tmp_path / "out", size=3 * MB)
    assert disk_usage(tmp_path / "out") <= 3 * MB


def test_many_members_are_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(100_000):
            archive.writestr(f"f{i}", b"")
    started = time.monotonic()
    with pytest.raises(TooLarge, match="more than 10000 entries"):
        extract(path, tmp_path / "out", members=10_000)
    assert time.monotonic() - started < 5
    assert not any((tmp_path / "out").iterdir())


def test_many_tar_members_stop_at_the_limit(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "many.tar", [tar_member(f"f{i}") for i in range(50)])
    with pytest.raises(TooLarge, match="more than 10 entries"):
        extract(path, tmp_path / "out", members=10)
    assert len(list((tmp_path / "out").iterdir())) == 10


@pytest.mark.parametrize(
    "content", [b"PK\x03\x04 truncated", b"\x1f\x8b\x08\x00garbage", b"plain text, no archive"]
)
def test_corrupt_archives_are_validation_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed):
        extract(path, tmp_path / "out")


def test_truncated_tar_gz_is_a_validation_error(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "t.tar.gz", [tar_member("f", size=200_000)], "w:gz")
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(ValidationFailed, match="damaged"):
        extract(path, tmp_path / "out")


def test_expand_archives_keeps_plain_files_and_shares_limits(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("a\n1\n")
    first = make_zip(tmp_path / "one.zip", {"a.txt": b"a" * 600})
    second = make_tar(tmp_path / "two.tar", [tar_member("b.txt", size=600)])
    files = [
        IncomingFile("plain.csv", plain),
        IncomingFile("one.zip", first),
        IncomingFile("two.TAR", second),
    ]
    out = expand_archives(files, tmp_path / "work", LimitSettings())
    assert [f.name for f in out] == ["plain.csv", "a.txt", "b.txt"]
    assert out[1].path.is_relative_to(tmp_path / "work" / "1")
    assert out[2].path.is_relative_to(tmp_path / "work" / "2")
    limits = LimitSettings(max_archive_bytes=1000)
    with pytest.raises(TooLarge):
        expand_archives(files, tmp_path / "work2", limits)
