"""Artifacts as objects in an S3-compatible bucket (AWS, MinIO, Ceph), through s3fs."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

import s3fs

from aiplayground.errors import InvalidInput, NotFound, PlaygroundError, Unavailable
from aiplayground.settings import StorageSettings
from aiplayground.storage.base import (
    ArtifactInfo,
    copy_stream,
    generate_key,
    validate_key,
    validate_prefix,
)

logger = logging.getLogger(__name__)

# S3 wants parts of at least 5 MiB (the last one excepted); 8 MiB bounds a write's memory.
PART_SIZE = 8 * 1024 * 1024
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call accepts


class S3ArtifactStore:
    """Artifacts as objects under `s3://bucket/prefix`; writes publish only when complete."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        settings: StorageSettings | None = None,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise InvalidInput(
                f"invalid S3 bucket name {bucket!r}; an S3 artifact store URL looks like "
                "s3://bucket/prefix",
            )
        settings = settings or StorageSettings()
        secret = settings.s3_secret_access_key
        self._bucket = bucket
        self._base = validate_prefix(prefix, allow_empty=True)
        self._fs = s3fs.S3FileSystem(
            endpoint_url=settings.s3_endpoint_url,
            key=settings.s3_access_key_id,
            secret=secret.get_secret_value() if secret else None,
            client_kwargs={"region_name": settings.s3_region} if settings.s3_region else {},
            # Other processes write to the same bucket: a listing cache would go stale.
            use_listings_cache=False,
            skip_instance_cache=True,
        )

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self._bucket!r}, {self._base!r})"

    def new_key(self, prefix: str) -> str:
        """Return a fresh server-generated key under `prefix`."""
        return generate_key(prefix)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO | Iterable[bytes],
        *,
        max_bytes: int | None = None,
    ) -> ArtifactInfo:
        """Write a stream under `key` atomically, in constant memory; TooLarge past max_bytes."""
        upload = _Upload(self._fs, self._bucket, self._object_key(key))
        try:
            size, sha256 = copy_stream(stream, upload.write, max_bytes=max_bytes)
            upload.complete()
        except BaseException:
            upload.abort()
            raise
        return ArtifactInfo(key=key, size=size, sha256=sha256)

    def put_bytes(self, key: str, data: bytes) -> ArtifactInfo:
        """Write `data` under `key` atomically."""
        return self.put_stream(key, io.BytesIO(data))

    def open(self, key: str) -> BinaryIO:
        """Open the artifact for reading; NotFound if it does not exist."""
        size = self.size(key)
        # Passing the size skips the second HEAD s3fs would make to learn it.
        f = self._fs.open(self._path(key), "rb", block_size=PART_SIZE, size=size)
        return cast(BinaryIO, f)

    def read_bytes(self, key: str) -> bytes:
        """Read the whole artifact; NotFound if it does not exist."""
        try:
            return cast(bytes, self._fs.cat_file(self._path(key)))
        except FileNotFoundError as exc:
            raise NotFound(f"artifact {key!r} does not exist") from exc

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under `key`."""
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes; NotFound if it does not exist."""
        try:
            head = self._fs.call_s3("head_object", Bucket=self._bucket, Key=self._object_key(key))
        except FileNotFoundError as exc:
            raise NotFound(f"artifact {key!r} does not exist") from exc
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing key is not an error."""
        self._fs.call_s3("delete_object", Bucket=self._bucket, Key=self._object_key(key))

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under `prefix` and return how many were removed."""
        object_keys = list(self._list_object_keys(validate_prefix(prefix)))
        for start in range(0, len(object_keys), _DELETE_BATCH):
            batch = object_keys[start : start + _DELETE_BATCH]
            out = self._fs.call_s3(
                "delete_objects",
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            if out.get("Errors"):
                first = out["Errors"][0]
                raise PlaygroundError(
                    f"could not delete {len(out['Errors'])} objects under {prefix!r}: "
                    f"{first.get('Key')}: {first.get('Message')}",
                )
        return len(object_keys)

    def list(self, prefix: str) -> list[str]:
        """Return the keys under `prefix`, recursively, sorted; '' lists the whole store."""
        cut = len(self._base) + 1 if self._base else 0
        keys = self._list_object_keys(validate_prefix(prefix, allow_empty=True))
        return sorted(k[cut:] for k in keys)

    def local_path(self, key: str) -> Path | None:
        """Return None: objects have no local path."""
        validate_key(key)
        return None

    def check(self) -> None:
        """Raise Unavailable unless the bucket answers a HEAD request."""
        try:
            self._fs.call_s3("head_bucket", Bucket=self._bucket)
        except Exception as exc:
            # Whatever the cause (network, credentials, missing bucket), readiness is "no".
            raise Unavailable(f"S3 bucket {self._bucket!r} is not reachable: {exc}") from exc

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Abort multipart uploads under the store's prefix started over `older_than_s` ago."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        kwargs: dict[str, Any] = {"Bucket": self._bucket}
        if self._base:
            kwargs["Prefix"] = f"{self._base}/"
        stale: list[tuple[str, str]] = []
        while True:
            page = self._fs.call_s3("list_multipart_uploads", **kwargs)
            stale.extend(
                (upload["Key"], upload["UploadId"])
                for upload in page.get("Uploads", [])
                if upload["Initiated"] <= cutoff
            )
            if not page.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = page["NextKeyMarker"]
            kwargs["UploadIdMarker"] = page["NextUploadIdMarker"]
        for object_key, upload_id in stale:
            self._fs.call_s3(
                "abort_multipart_upload", Bucket=self._bucket, Key=object_key, UploadId=upload_id
            )
        return len(stale)

    def _object_key(self, key: str) -> str:
        validate_key(key)
        return f"{self._base}/{key}" if self._base else key

    def _path(self, key: str) -> str:
        return f"{self._bucket}/{self._object_key(key)}"

    def _list_object_keys(self, prefix: str) -> Iterator[str]:
        """Yield the full object keys under `prefix` (relative to the store's prefix)."""
        object_prefix = "/".join(p for p in (self._base, prefix) if p)
        kwargs: dict[str, Any] = {"Bucket": self._bucket}
        if object_prefix:
            kwargs["Prefix"] = f"{object_prefix}/"
        while True:
            page = self._fs.call_s3("list_objects_v2", **kwargs)
            for item in page.get("Contents", []):
                # Consoles create "folder/" marker objects; they are not artifacts.
                if not item["Key"].endswith("/"):
                    yield item["Key"]
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]


class _Upload:
    """One object being written: a single PUT if it fits in one part, else a multipart upload.

    Nothing is visible under the key until `complete()`; `abort()` discards the parts.
    """

    def __init__(self, fs: Any, bucket: str, key: str) -> None:
        self._fs = fs
        self._bucket = bucket
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        # Strictly greater: the final part is then never empty, and an object that fits
        # in one part goes up as one plain PUT.
        while len(self._buffer) > PART_SIZE:
            self._upload_part(bytes(self._buffer[:PART_SIZE]))
            del self._buffer[:PART_SIZE]

    def complete(self) -> None:
        if self._upload_id is None:
            self._call("put_object", Body=bytes(self._buffer))
        else:
            self._upload_part(bytes(self._buffer))
            self._call(
                "complete_multipart_upload",
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._call("abort_multipart_upload", UploadId=upload_id)
        except Exception:
            # The caller's exception matters more; cleanup_temp() removes this upload later.
            logger.warning("could not abort multipart upload of %s", self._key, exc_info=True)

    def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._call("create_multipart_upload")["UploadId"]
        number = len(self._parts) + 1
        out = self._call("upload_part", UploadId=self._upload_id, PartNumber=number, Body=data)
        self._parts.append({"PartNumber": number, "ETag": out["ETag"]})

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._fs.call_s3(method, Bucket=self._bucket, Key=self._key, **kwargs)
