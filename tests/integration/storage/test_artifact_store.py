"""The ArtifactStore contract, run against the file store and the S3 store (moto)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiplayground.errors import Conflict, InvalidInput, NotFound, TooLarge, Unavailable
from aiplayground.settings import StorageSettings
from aiplayground.storage import (
    ArtifactStore,
    FileArtifactStore,
    open_artifact_store,
)
from aiplayground.storage.s3 import S3ArtifactStore

MIB = 1024 * 1024


def chunks(count: int, size: int = MIB, *, seen: list[int] | None = None) -> Iterator[bytes]:
    """Yield `count` distinct chunks, counting in `seen` how many were pulled."""
    for i in range(count):
        if seen is not None:
            seen.append(i)
        yield i.to_bytes(4, "big") * (size // 4)


def sha256_of(data: Iterator[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in data:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def assert_nothing_left(store: ArtifactStore, prefix: str) -> None:
    assert store.list(prefix) == []
    assert store.list("") == []
    # cleanup_temp(0) removes every unfinished write, so 0 means none was left behind.
    assert store.cleanup_temp(older_than_s=0) == 0


# -- the contract ----------------------------------------------------------------------


def test_store_satisfies_protocol(store: ArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)
    store.check()


def test_round_trip_checks_size_and_sha256(store: ArtifactStore) -> None:
    data = b"weights " * 1000
    key = store.new_key("models/iris/1")

    info = store.put_bytes(key, data)

    assert info.key == key
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert store.read_bytes(key) == data
    with store.open(key) as f:
        assert f.read() == data
    assert store.exists(key)
    assert store.size(key) == len(data)
    assert store.list("models/iris") == [key]
    local = store.local_path(key)
    if local is not None:
        assert local.read_bytes() == data


def test_empty_artifact(store: ArtifactStore) -> None:
    info = store.put_bytes("empty/a", b"")

    assert (info.size, info.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert store.read_bytes("empty/a") == b""
    assert store.size("empty/a") == 0


def test_put_stream_from_file_object(store: ArtifactStore) -> None:
    data = os.urandom(3 * MIB + 17)

    info = store.put_stream("datasets/d/1/data.bin", io.BytesIO(data))

    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.read_bytes("datasets/d/1/data.bin") == data


def test_put_overwrites(store: ArtifactStore) -> None:
    store.put_bytes("a/b", b"old")
    store.put_bytes("a/b", b"new")

    assert store.read_bytes("a/b") == b"new"
    assert store.list("a") == ["a/b"]


def test_streamed_write_of_50_mib_from_a_generator(store: ArtifactStore) -> None:
    expected = sha256_of(chunks(50))

    info = store.put_stream("big/blob", chunks(50))

    assert (info.size, info.sha256) == expected
    with store.open("big/blob") as f:
        assert sha256_of(iter(lambda: f.read(MIB), b"")) == expected


def test_too_large_stops_mid_stream_and_leaves_nothing(store: ArtifactStore) -> None:
    seen: list[int] = []

    # 20 MiB is past the S3 part size, so the S3 store has parts to abort.
    with pytest.raises(TooLarge) as caught:
        store.put_stream("up/x", chunks(50, seen=seen), max_bytes=20 * MIB)

    assert caught.value.details == {"max_bytes": 20 * MIB}
    assert len(seen) == 21, "the stream must stop at the first chunk past the limit"
    assert not store.exists("up/x")
    assert_nothing_left(store, "up")


def test_failing_stream_leaves_nothing(store: ArtifactStore) -> None:
    def broken() -> Iterator[bytes]:
        yield from chunks(12)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream("up/x", broken())

    assert not store.exists("up/x")
    assert_nothing_left(store, "up")


def test_failed_overwrite_keeps_the_old_artifact(store: ArtifactStore) -> None:
    store.put_bytes("up/x", b"old")

    with pytest.raises(TooLarge):
        store.put_stream("up/x", chunks(4), max_bytes=MIB)

    assert store.read_bytes("up/x") == b"old"


def test_bytes_are_not_a_stream(store: ArtifactStore) -> None:
    with pytest.raises(TypeError, match="put_bytes"):
        store.put_stream("a/b", b"data")  # type: ignore[arg-type]


def test_new_key_is_server_generated(store: ArtifactStore) -> None:
    first, second = store.new_key("models/iris/1"), store.new_key("models/iris/1/")

    assert first != second
    assert first.startswith("models/iris/1/")
    assert second.startswith("models/iris/1/")
    assert "//" not in second


def test_delete(store: ArtifactStore) -> None:
    store.put_bytes("a/b", b"x")

    store.delete("a/b")
    store.delete("a/b")  # a missing key is not an error

    assert not store.exists("a/b")
    assert store.list("") == []


def test_delete_prefix(store: ArtifactStore) -> None:
    for key in ("m/iris/1/a", "m/iris/1/b", "m/iris/1/sub/c", "m/iris/2/a", "m/iris10/a"):
        store.put_bytes(key, key.encode())

    assert store.delete_prefix("m/iris/1") == 3

    assert store.list("m") == ["m/iris/2/a", "m/iris10/a"]
    assert store.delete_prefix("m/iris/1") == 0
    assert store.delete_prefix("nothing/here") == 0


def test_list_respects_segment_boundaries(store: ArtifactStore) -> None:
    store.put_bytes("m/iris/a", b"1")
    store.put_bytes("m/iris10/a", b"2")

    assert store.list("m/iris") == ["m/iris/a"]
    assert store.list("m") == ["m/iris/a", "m/iris10/a"]
    assert store.list("none") == []


def test_missing_key_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(NotFound):
        store.open("no/such/key")
    with pytest.raises(NotFound):
        store.read_bytes("no/such/key")
    with pytest.raises(NotFound):
        store.size("no/such/key")
    assert not store.exists("no/such/key")


def test_a_prefix_is_not_an_artifact(store: ArtifactStore) -> None:
    store.put_bytes("dir/file", b"x")

    assert not store.exists("dir")
    with pytest.raises(NotFound):
        store.open("dir")


BAD_KEYS = ["../x", "/etc/x", "a/../../b", "a\\b", "a\x00b", "a" * 600, "", "a//b", ".tmp/x"]

KEY_OPERATIONS: dict[str, Callable[[ArtifactStore, str], Any]] = {
    "put_bytes": lambda s, k: s.put_bytes(k, b"x"),
    "put_stream": lambda s, k: s.put_stream(k, iter([b"x"])),
    "open": lambda s, k: s.open(k),
    "read_bytes": lambda s, k: s.read_bytes(k),
    "exists": lambda s, k: s.exists(k),
    "size": lambda s, k: s.size(k),
    "delete": lambda s, k: s.delete(k),
    "local_path": lambda s, k: s.local_path(k),
    "new_key": lambda s, k: s.new_key(k),
    "list": lambda s, k: s.list(k),
    "delete_prefix": lambda s, k: s.delete_prefix(k),
}


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_refused(store: ArtifactStore, key: str) -> None:
    not_refused = []
    for name, operation in KEY_OPERATIONS.items():
        if name == "list" and key == "":
            continue  # list("") lists the whole store
        try:
            operation(store, key)
        except InvalidInput:
            continue
        not_refused.append(name)

    assert not_refused == []


# -- opening by URL --------------------------------------------------------------------


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"known schemes: file, s3"):
        open_artifact_store("ftp://host/artifacts")
    with pytest.raises(InvalidInput, match=r"known schemes"):
        open_artifact_store("/no/scheme")


def test_open_file_url(tmp_path: Path) -> None:
    store = open_artifact_store((tmp_path / "with space").as_uri())

    store.put_bytes("a/b", b"x")

    assert isinstance(store, FileArtifactStore)
    assert (tmp_path / "with space" / "a" / "b").read_bytes() == b"x"


def test_file_url_with_a_host_is_refused() -> None:
    with pytest.raises(InvalidInput, match="file:///"):
        open_artifact_store("file://server/share")


def test_open_s3_url_writes_under_the_prefix(s3_bucket: str, s3_settings: StorageSettings) -> None:
    store = open_artifact_store(f"s3://{s3_bucket}/team/artifacts", s3_settings)

    store.put_bytes("a/b", b"x")

    assert isinstance(store, S3ArtifactStore)
    assert store.list("") == ["a/b"]
    whole_bucket = S3ArtifactStore(s3_bucket, settings=s3_settings)
    assert whole_bucket.list("") == ["team/artifacts/a/b"]


def test_s3_url_needs_a_valid_bucket(s3_settings: StorageSettings) -> None:
    with pytest.raises(InvalidInput, match="bucket"):
        open_artifact_store("s3:///prefix", s3_settings)


def test_importing_the_package_does_not_load_s3fs() -> None:
    code = "import sys, aiplayground.storage; sys.exit('s3fs' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the file store --------------------------------------------------------------------


def test_file_symlink_pointing_outside_is_refused(file_store: FileArtifactStore) -> None:
    secret = file_store.root.parent / "secret.txt"
    secret.write_bytes(b"do not serve")
    file_store.put_bytes("m/ok", b"ok")
    (file_store.root / "m" / "evil").symlink_to(secret)

    for read in (file_store.open, file_store.read_bytes, file_store.local_path, file_store.size):
        with pytest.raises(InvalidInput, match="outside"):
            read("m/evil")


def test_file_symlinked_folder_pointing_outside_is_refused(
    file_store: FileArtifactStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    file_store.root.mkdir()
    (file_store.root / "m").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidInput, match="outside"):
        file_store.put_bytes("m/x", b"x")
    with pytest.raises(InvalidInput, match="outside"):
        file_store.delete_prefix("m")
    assert list(outside.iterdir()) == []


def test_file_local_path_is_inside_the_root(file_store: FileArtifactStore) -> None:
    file_store.put_bytes("m/a", b"x")

    assert file_store.local_path("m/a") == file_store.root / "m" / "a"
    with pytest.raises(NotFound):
        file_store.local_path("m/missing")


def test_file_stale_temp_files_are_cleaned_and_never_listed(
    file_store: FileArtifactStore,
) -> None:
    file_store.put_bytes("m/a", b"x")
    tmp = file_store.root / ".tmp"
    stale, fresh = tmp / "stale.part", tmp / "fresh.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    assert file_store.list("") == ["m/a"]
    assert file_store.cleanup_temp() == 1
    assert not stale.exists()
    assert fresh.exists()


def test_file_key_and_prefix_cannot_collide(file_store: FileArtifactStore) -> None:
    file_store.put_bytes("m/a", b"x")

    with pytest.raises(Conflict):
        file_store.put_bytes("m/a/b", b"y")
    assert file_store.cleanup_temp(older_than_s=0) == 0


def test_file_streamed_write_uses_constant_memory(file_store: FileArtifactStore) -> None:
    tracemalloc.start()
    try:
        file_store.put_stream("big/blob", chunks(50))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * MIB


def test_file_check_fails_when_the_root_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")

    with pytest.raises(Unavailable):
        FileArtifactStore(tmp_path / "file" / "artifacts").check()


# -- the S3 store ----------------------------------------------------------------------


def test_s3_cleanup_aborts_stale_multipart_uploads(
    s3_store: S3ArtifactStore, s3_client: Any, s3_bucket: str
) -> None:
    bucket = s3_bucket
    s3_client.call_s3("create_multipart_upload", Bucket=bucket, Key="artifacts/m/a")
    s3_client.call_s3("create_multipart_upload", Bucket=bucket, Key="elsewhere/m/a")

    # moto reports every upload as started in 2010, so the age cut-off is not tested here.
    assert s3_store.cleanup_temp(older_than_s=0) == 1

    left = s3_client.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["elsewhere/m/a"]


def test_s3_check_fails_for_a_missing_bucket(s3_settings: StorageSettings) -> None:
    with pytest.raises(Unavailable, match="no-such-bucket"):
        S3ArtifactStore("no-such-bucket", settings=s3_settings).check()


def test_s3_local_path_is_none(s3_store: S3ArtifactStore) -> None:
    s3_store.put_bytes("m/a", b"x")

    assert s3_store.local_path("m/a") is None
