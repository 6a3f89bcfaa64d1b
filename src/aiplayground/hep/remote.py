"""Remote ROOT files: `root://` (XRootD) and `http(s)://` URLs, read under the outbound policy.

Every open checks the URL again: no user, password or query in it (credentials must not
sit in a catalog record), and the host's resolved addresses allowed by the `UrlPolicy`
(internal addresses only when an admin allow-listed them). HTTP is read with Range
requests through the policy's guarded client, which connects only to checked addresses
and follows no redirect unchecked. XRootD is read with the XRootD client; its first hop
is checked here, but redirections an XRootD server hands out (federations) are followed
by the client itself, so allow-list internal redirectors with that in mind.

Readers are seekable binary files: uproot reads HTTP ones as file objects, the training
workspace copies either kind into a job folder, and the download route streams them.
"""

from __future__ import annotations

import importlib
import io
import posixpath
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from aiplayground.errors import (
    InvalidInput,
    MissingDependency,
    PlaygroundError,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from aiplayground.net import UrlPolicy

SCHEMES = ("root", "http", "https")
DEFAULT_PORTS = {"root": 1094, "http": 80, "https": 443}
MAX_URL = 2048
# XRootD status errnos (XProtocol.hh) that say something about the path, not the network.
XRD_NOT_FOUND = 3011
XRD_NOT_AUTHORIZED = 3010
XRD_IS_DIRECTORY = 3016
XRD_OPERATION_EXPIRED = 206

_xrootd_lock = threading.Lock()
_xrootd_configured = False


@dataclass(frozen=True)
class RemoteUrl:
    """A checked remote file URL and its parts."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def name(self) -> str:
        """The file's name (last path segment), used as its path in the dataset version."""
        return posixpath.basename(unquote(self.path))


def is_remote(source: object) -> bool:
    """Whether `source` is a URL string this module reads."""
    return isinstance(source, str) and source.split("://", 1)[0].lower() in SCHEMES


class RemoteFiles:
    """Opens remote ROOT files for reading, each open checked against the outbound policy."""

    def __init__(
        self, policy: UrlPolicy, timeout: float = 30.0, max_copy_bytes: int = 2 * 1024**3
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_copy_bytes = max_copy_bytes

    def parse(self, url: str) -> RemoteUrl:
        """The URL's parts, refused (422) unless a plain root:// or http(s):// file URL."""
        url = url.strip()
        if len(url) > MAX_URL:
            raise ValidationFailed(f"a remote URL is at most {MAX_URL} characters")
        if not url.isprintable() or any(c.isspace() for c in url):
            raise ValidationFailed("a remote URL must not contain spaces or control characters")
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in SCHEMES:
            raise ValidationFailed(
                f"remote files are root://host[:port]//path or https://host/path URLs, "
                f"not {url[:200]!r}",
                details={"known_schemes": list(SCHEMES)},
            )
        if scheme == "root":
            try:
                parts = urlsplit(url)
                port = parts.port or DEFAULT_PORTS["root"]
            except ValueError as exc:
                raise ValidationFailed(f"invalid URL {url[:200]!r}: {exc}") from exc
            if parts.username is not None or parts.password is not None:
                raise _credentials()
            host, path = parts.hostname or "", parts.path
            query, fragment = parts.query, parts.fragment
            normalized = f"root://{_netloc(host, parts.port)}{path}"
        else:
            parsed = self.policy.parse(url)  # refuses user info; the client's own parser
            host, path, query = parsed.host, parsed.path, parsed.query.decode()
            fragment, port = parsed.fragment, parsed.port or DEFAULT_PORTS[parsed.scheme]
            normalized = str(parsed)
        if query or fragment:
            # XRootD and signed HTTP URLs carry tokens in the query: a catalog record must not.
            raise ValidationFailed(
                "remote URLs must not carry a '?query' or '#fragment' (tokens do not belong "
                "in the catalog); use a URL that is readable without credentials"
            )
        if not host:
            raise ValidationFailed(f"the URL {url[:200]!r} has no host")
        if not posixpath.basename(unquote(path)):
            raise ValidationFailed(f"the URL {url[:200]!r} does not name a file")
        return RemoteUrl(url=normalized, scheme=scheme, host=host, port=port, path=path)

    def check(self, url: str) -> RemoteUrl:
        """Parse the URL and check its host's addresses (403 for an internal, refused one)."""
        remote = self.parse(url)
        try:
            self.policy.resolve(remote.host, remote.port)
        except (socket.gaierror, UnicodeError) as exc:
            raise ValidationFailed(
                f"cannot resolve the host {remote.host!r}; check the URL's spelling",
                details={"url": remote.url},
            ) from exc
        return remote

    def open(self, url: str) -> RemoteReader:
        """A seekable reader of the remote file (checked first); the caller closes it."""
        remote = self.check(url)
        if remote.scheme == "root":
            return XRootDReader(remote.url, self.timeout)
        return HttpRangeReader(self.policy, remote.url, self.timeout)

    @contextmanager
    def uproot_source(self, url: str) -> Iterator[tuple[Any, dict[str, Any]]]:
        """What to hand `uproot.open` for this URL: (path or file object, options)."""
        remote = self.check(url)
        if remote.scheme == "root":
            # uproot's own XRootD source does vector reads; the file was probed first so
            # that a missing path or a dead server gets a clear error rather than a timeout.
            with XRootDReader(remote.url, self.timeout):
                pass
            import uproot

            handler = uproot.source.xrootd.XRootDSource
            yield remote.url, {"handler": handler, "timeout": max(1, int(self.timeout))}
        else:
            with HttpRangeReader(self.policy, remote.url, self.timeout) as reader:
                yield reader, {}


class RemoteReader(io.RawIOBase):
    """A read-only, seekable remote file of known size."""

    url: str
    size: int
    position: int = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.position = base + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self.size - self.position)
        if count <= 0:
            return 0
        data = self._read_at(self.position, count)
        view[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _read_at(self, offset: int, count: int) -> bytes:
        raise NotImplementedError


class HttpRangeReader(RemoteReader):
    """An http(s) file read with Range requests through the policy's guarded client."""

    def __init__(self, policy: UrlPolicy, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.client = policy.client(timeout=timeout, headers={"Accept-Encoding": "identity"})
        try:
            with self._errors():
                first = policy.request(self.client, "GET", url, headers={"Range": "bytes=0-0"})
            self.target = first.request.url  # after checked redirects: later reads go there
            self.size = self._judge_first(first)
        except BaseException:
            self.client.close()
            raise

    def _judge_first(self, response: httpx.Response) -> int:
        status = response.status_code
        details = {"url": self.url, "status": status}
        if status in (404, 410):
            raise InvalidInput(f"no file at {self.url} ({status})", details=details)
        if status in (401, 403):
            raise ValidationFailed(
                f"{self.url} refused the request ({status}); only files readable without "
                "credentials can be registered",
                details=details,
            )
        if status == 416:
            raise ValidationFailed(f"{self.url} is an empty file", details=details)
        if status == 200:
            raise ValidationFailed(
                f"the server of {self.url} ignores HTTP Range requests; ROOT files are read in "
                "parts, so the server must support them",
                details=details,
            )
        if status != 206:
            raise UpstreamError(f"{self.url} answered {status}", details=details)
        total = response.headers.get("content-range", "").rpartition("/")[2]
        if not total.isdigit():
            raise ValidationFailed(
                f"the server of {self.url} does not say the file's size (Content-Range)",
                details=details,
            )
        return int(total)

    def _read_at(self, offset: int, count: int) -> bytes:
        headers = {"Range": f"bytes={offset}-{offset + count - 1}"}
        request = self.client.build_request("GET", self.target, headers=headers)
        with self._errors():
            response = self.client.send(request, stream=True)
            try:
                if response.status_code != 206:
                    raise UpstreamError(
                        f"{self.url} answered {response.status_code} to a Range request",
                        details={"url": self.url, "status": response.status_code},
                    )
                data = bytearray()
                # A server that ignores the range must not make us buffer the whole file.
                for chunk in response.iter_bytes():
                    data += chunk[: count - len(data)]
                    if len(data) >= count:
                        break
            finally:
                response.close()
        if len(data) < count:
            raise UpstreamError(f"{self.url} sent {len(data)} of {count} bytes asked for")
        return bytes(data)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"{self.url} did not answer within {self.timeout:g} s", details={"url": self.url}
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"{self.url} is not reachable ({exc}); check the URL and that the server is up",
                details={"url": self.url},
            ) from exc

    def close(self) -> None:
        if not self.closed:
            self.client.close()
        super().close()


class XRootDReader(RemoteReader):
    """A root:// file read with the XRootD client (`pip install 'ai-playground[xrootd]'`)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = max(1, int(timeout))
        self.file = xrootd_client().File()
        status, _ = self.file.open(url, timeout=self.timeout)
        if not status.ok:
            raise self._error(status)
        try:
            status, info = self.file.stat(timeout=self.timeout)
            if not status.ok:
                raise self._error(status)
            self.size = int(info.size)
        except BaseException:
            self.file.close(timeout=self.timeout)
            raise

    def _read_at(self, offset: int, count: int) -> bytes:
        status, data = self.file.read(offset, count, timeout=self.timeout)
        if not status.ok:
            raise self._error(status)
        if not data:
            raise UpstreamError(f"{self.url} ended before its announced size")
        return bytes(data)

    def _error(self, status: Any) -> PlaygroundError:
        message = str(status.message).strip().splitlines()[0] if status.message else "?"
        details = {"url": self.url, "xrootd": message}
        if status.errno in (XRD_NOT_FOUND, XRD_IS_DIRECTORY):
            return InvalidInput(f"no file at {self.url} ({message})", details=details)
        if status.errno == XRD_NOT_AUTHORIZED:
            return ValidationFailed(
                f"{self.url} refused access ({message}); only files readable without "
                "credentials can be registered",
                details=details,
            )
        if status.errno:
            return ValidationFailed(f"cannot read {self.url} ({message})", details=details)
        if status.code == XRD_OPERATION_EXPIRED:
            return UpstreamTimeout(
                f"{self.url} did not answer within {self.timeout} s", details=details
            )
        return UpstreamError(
            f"{self.url} is not reachable ({message}); check the URL and that the server is up",
            details=details,
        )

    def close(self) -> None:
        if not self.closed:
            self.file.close(timeout=self.timeout)
        super().close()


def xrootd_client() -> Any:
    """The XRootD client module, configured once to give up on dead servers quickly."""
    global _xrootd_configured
    try:
        client: Any = importlib.import_module("XRootD.client")
    except ImportError as exc:
        raise MissingDependency(
            "reading root:// URLs needs the XRootD client: pip install 'ai-playground[xrootd]'"
        ) from exc
    with _xrootd_lock:
        if not _xrootd_configured:
            # The defaults retry a refused connection for minutes; a request must fail fast.
            client.EnvPutInt("ConnectionWindow", 10)
            client.EnvPutInt("ConnectionRetry", 1)
            _xrootd_configured = True
    return client


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _credentials() -> ValidationFailed:
    return ValidationFailed(
        "URLs must not carry a user name or password; register files readable without them"
    )
