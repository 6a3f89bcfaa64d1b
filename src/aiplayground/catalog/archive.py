"""Uploaded archives: unpacked member by member, with every path and size checked.

Nothing here trusts what an archive says about itself: member names are checked before a
byte is written, the resolved output path must stay inside the destination, links and
special files are refused, and sizes are counted while writing (declared sizes can lie).
"""

from __future__ import annotations

import gzip
import lzma
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aiplayground.catalog.files import IncomingFile
from aiplayground.errors import TooLarge, ValidationFailed
from aiplayground.settings import LimitSettings

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
CHUNK = 1024 * 1024
# Deflate tops out near 1030:1 on constant data; real datasets and models stay far below.
MAX_ZIP_RATIO = 200
RATIO_MIN_BYTES = 16 * 1024 * 1024
MAX_SEGMENT_BYTES = 255

_DRIVE = re.compile(r"^[A-Za-z]:")
_TAR_MAGIC_OFFSET = 257
# Compressed tar streams, told apart by their first bytes (gzip, bzip2, xz).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
# What a damaged archive raises while being read (decompressors included).
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)


def is_archive(name: str) -> bool:
    """True when the file name says zip or (compressed) tar."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class _Budget:
    """What is left of the member and byte limits, shared by the archives of one upload."""

    members: int
    bytes: int
    max_members: int
    max_bytes: int

    def take_members(self, count: int, label: str) -> None:
        self.members -= count
        if self.members < 0:
            raise TooLarge(
                f"archive {label} has more than {self.max_members} entries; split it into "
                "smaller archives or upload fewer, larger files",
                details={"limit": self.max_members},
            )

    def take_bytes(self, count: int, label: str) -> None:
        self.bytes -= count
        if self.bytes < 0:
            raise TooLarge(
                f"archive {label} unpacks to more than {self.max_bytes} bytes; upload a "
                "smaller archive or ask an admin to raise limits.max_archive_bytes",
                details={"limit": self.max_bytes},
            )


def extract_archive(
    path: Path, dest: Path, *, max_members: int, max_bytes: int
) -> list[IncomingFile]:
    """Unpack a zip or tar archive into dest; one IncomingFile per regular file member."""
    budget = _Budget(max_members, max_bytes, max_members, max_bytes)
    return _extract(path, dest, budget, path.name)


def expand_archives(
    files: list[IncomingFile], workdir: Path, limits: LimitSettings
) -> list[IncomingFile]:
    """Replace each archive by its members (unpacked under workdir/<index>); keep other files."""
    members, size = limits.max_archive_members, limits.max_archive_bytes
    budget = _Budget(members, size, members, size)
    expanded: list[IncomingFile] = []
    for index, item in enumerate(files):
        if is_archive(item.name):
            expanded.extend(_extract(item.path, workdir / str(index), budget, item.name))
        else:
            expanded.append(item)
    return expanded


def _extract(path: Path, dest: Path, budget: _Budget, label: str) -> list[IncomingFile]:
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(dest.resolve(), budget, label)
    with path.open("rb") as stream:
        head = stream.read(_TAR_MAGIC_OFFSET + 8)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        _extract_zip(path, writer)
    elif head.startswith(_COMPRESSED_MAGIC) or head[_TAR_MAGIC_OFFSET:].startswith(b"ustar"):
        _extract_tar(path, writer)
    else:
        raise ValidationFailed(
            f"{label} is neither a zip nor a tar archive; upload a .zip, .tar, .tar.gz, "
            ".tar.bz2 or .tar.xz file, or turn extraction off",
            details={"field": "file"},
        )
    return writer.files


class _Writer:
    """Checks member paths and writes member contents, counting against the budget."""

    def __init__(self, root: Path, budget: _Budget, label: str) -> None:
        self.root = root
        self.budget = budget
        self.label = label
        self.files: list[IncomingFile] = []
        self.seen: set[str] = set()

    def refuse(self, member: str, why: str) -> ValidationFailed:
        return ValidationFailed(
            f"archive {self.label}: member {member!r} {why}; repack the archive without it",
            details={"field": "file", "member": member},
        )

    def corrupt(self, exc: BaseException) -> ValidationFailed:
        return ValidationFailed(
            f"archive {self.label} is damaged or unreadable ({exc}); check the file and upload "
            "it again",
            details={"field": "file"},
        )

    def target(self, name: str) -> tuple[str, Path] | None:
        """The clean relative name and output path of a member; None for the root itself."""
        if "\x00" in name:
            raise self.refuse(name, "has a NUL character in its name")
        if "\\" in name:
            raise self.refuse(name, "uses backslashes in its path")
        if name.startswith("/") or _DRIVE.match(name):
            raise self.refuse(name, "has an absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.refuse(name, "points outside the archive ('..')")
        if not parts:
            return None
        if any(len(p.encode()) > MAX_SEGMENT_BYTES for p in parts):
            raise self.refuse(name, f"has a path segment longer than {MAX_SEGMENT_BYTES} bytes")
        relative = "/".join(parts)
        out = (self.root / relative).resolve()
        if not out.is_relative_to(self.root) or out == self.root:
            raise self.refuse(name, "resolves outside the extraction folder")
        return relative, out

    def directory(self, name: str) -> None:
        found = self.target(name)
        if found is None:
            return
        try:
            found[1].mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise self.refuse(name, "conflicts with a file of the same name") from exc

    def file(self, name: str, source: IO[bytes]) -> None:
        found = self.target(name)
        if found is None:
            raise self.refuse(name, "is a file without a name")
        relative, out = found
        if relative in self.seen:
            raise self.refuse(name, "appears twice")
        self.seen.add(relative)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            # "x" refuses to reuse an existing path, so nothing is overwritten or followed.
            with out.open("xb") as sink:
                self.copy(source, sink)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise self.refuse(name, "conflicts with another member of the same name") from exc
        self.files.append(IncomingFile(name=relative, path=out))

    def copy(self, source: IO[bytes], sink: IO[bytes]) -> None:
        while True:
            try:
                chunk = source.read(CHUNK)
            except _CORRUPT as exc:
                raise self.corrupt(exc) from exc
            except OSError as exc:
                if exc.errno is not None:  # a real I/O failure, not bad compressed data
                    raise
                raise self.corrupt(exc) from exc
            if not chunk:
                return
            # Count before writing: the limit is never exceeded on disk.
            self.budget.take_bytes(len(chunk), self.label)
            sink.write(chunk)


def _open_zip(path: Path, writer: _Writer) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (*_CORRUPT, ValueError) as exc:
        raise writer.corrupt(exc) from exc


def _central_directory_entries(path: Path, stop: int) -> int | None:
    """Count central directory entries, up to stop + 1, without building them all in memory.

    zipfile parses the whole directory on open (about 0.5 KB of memory per entry), so a
    zip of a million empty files is turned away here first. None: layout not understood.
    """
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(max(0, size - 22 - 65535))
        tail = stream.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return None
        cd_size, cd_offset = struct.unpack_from("<II", tail, at + 12)
        locator = at - 20
        if 0xFFFFFFFF in (cd_size, cd_offset) and tail[locator : locator + 4] == b"PK\x06\x07":
            stream.seek(struct.unpack_from("<Q", tail, locator + 8)[0])
            record = stream.read(56)
            if record[:4] != b"PK\x06\x06" or len(record) < 56:
                return None
            cd_offset = struct.unpack_from("<Q", record, 48)[0]
        stream.seek(cd_offset)
        count = 0
        while count <= stop:
            header = stream.read(46)
            if len(header) < 46 or header[:4] != b"PK\x01\x02":
                return None if count == 0 and header[:4] != b"PK\x05\x06" else count
            name, extra, comment = struct.unpack_from("<HHH", header, 28)
            stream.seek(name + extra + comment, 1)
            count += 1
        return count


def _extract_zip(path: Path, writer: _Writer) -> None:
    entries = _central_directory_entries(path, writer.budget.members)
    if entries is not None and entries > writer.budget.members:
        writer.budget.take_members(entries, writer.label)
    with _open_zip(path, writer) as archive:
        infos = archive.infolist()
        # The central directory is read whole on open: check everything it declares first.
        writer.budget.take_members(len(infos), writer.label)
        for info in infos:
            _check_zip_entry(info, writer)
        if sum(info.file_size for info in infos) > writer.budget.bytes:
            raise TooLarge(
                f"archive {writer.label} declares more than {writer.budget.max_bytes} bytes "
                "of contents; upload a smaller archive or ask an admin to raise "
                "limits.max_archive_bytes",
                details={"limit": writer.budget.max_bytes},
            )
        for info in infos:
            if info.is_dir():
                writer.directory(info.filename)
                continue
            try:
                source = archive.open(info)
            except (*_CORRUPT, NotImplementedError, RuntimeError) as exc:
                raise writer.corrupt(exc) from exc
            with source:
                writer.file(info.filename, source)


def _check_zip_entry(info: zipfile.ZipInfo, writer: _Writer) -> None:
    """Refuse links, special files, encryption and absurd ratios before writing anything."""
    writer.target(info.filename)
    # Unix file types live in the high bits; many zips carry only permissions (type 0).
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if kind == stat.S_IFLNK:
        raise writer.refuse(info.filename, "is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise writer.refuse(info.filename, "is a device, pipe or socket, not a file")
    if info.flag_bits & 0x1:
        raise writer.refuse(info.filename, "is encrypted")
    if info.file_size > RATIO_MIN_BYTES and (
        info.compress_size == 0 or info.file_size / info.compress_size > MAX_ZIP_RATIO
    ):
        raise TooLarge(
            f"archive {writer.label}: member {info.filename!r} claims to expand "
            f"{info.file_size} bytes from {info.compress_size} (a zip bomb?); "
            "upload the files unpacked or in a normal archive",
            details={"member": info.filename},
        )


def _open_tar(path: Path, writer: _Writer) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except (*_CORRUPT, gzip.BadGzipFile) as exc:
        raise writer.corrupt(exc) from exc


def _extract_tar(path: Path, writer: _Writer) -> None:
    # Members are read in order, so a compressed stream is decompressed only once.
    with _open_tar(path, writer) as archive:
        for member in _tar_members(archive, writer):
            writer.budget.take_members(1, writer.label)
            if member.issym() or member.islnk():
                raise writer.refuse(member.name, "is a link")
            if member.isdir():
                writer.directory(member.name)
            elif member.isreg():
                source = archive.extractfile(member)
                if source is None:
                    raise writer.refuse(member.name, "cannot be read")
                with source:
                    writer.file(member.name, source)
            else:
                raise writer.refuse(member.name, "is a device, pipe or socket, not a file")


def _tar_members(archive: tarfile.TarFile, writer: _Writer) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            member = archive.next()
        except _CORRUPT as exc:
            raise writer.corrupt(exc) from exc
        except OSError as exc:
            if exc.errno is not None:
                raise
            raise writer.corrupt(exc) from exc
        if member is None:
            return
        # TarFile keeps every member it has read; the member limit bounds that list too.
        yield member
