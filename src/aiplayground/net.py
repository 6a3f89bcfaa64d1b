"""Outbound HTTP to user-given URLs, refusing internal addresses (SSRF) unless allow-listed.

The address is checked where the connection is made: the clients' network backends
resolve the host, check every address and connect to a checked address, so DNS answers
that change between a check and the request (rebinding) cannot reach an internal host.
Redirects are not followed by the clients; `UrlPolicy.request` follows them, one checked
hop at a time.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

from aiplayground.errors import PermissionDenied, UpstreamError, ValidationFailed

MAX_REDIRECTS = 5
REDIRECT_CODES = (301, 302, 303, 307, 308)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_kind(ip: IPAddress) -> str | None:
    """Why an address is internal ("loopback", "private", ...), or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return address_kind(embedded)
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 carries an IPv4 address
            return address_kind(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


class UrlPolicy:
    """Which outbound URLs are allowed: public addresses, plus what an admin allow-listed."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self.networks: list[IPNetwork] = []
        self.hostnames: set[str] = set()
        for entry in allowed_hosts:
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hostnames.add(entry)

    # checks ----------------------------------------------------------------------------

    def check_url(self, url: str) -> str:
        """Refuse URLs that are not plain http(s) to an allowed host; return the URL normalized."""
        parsed = self.parse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            self.resolve(parsed.host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise ValidationFailed(
                f"cannot resolve the host {parsed.host!r}; check the URL's spelling"
            ) from exc
        return str(parsed.copy_with(fragment=None))

    def parse(self, url: str) -> httpx.URL:
        """The URL parsed by httpx itself, refused unless plain http(s) without credentials."""
        # The client's own parser, so the host checked is the host connected to.
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValidationFailed(f"invalid URL {url[:200]!r}: {exc}") from exc
        if parsed.scheme not in ("http", "https"):
            raise ValidationFailed(
                f"only http:// and https:// URLs are allowed, not {parsed.scheme or 'no'} scheme"
            )
        if parsed.userinfo:
            raise ValidationFailed(
                "URLs must not carry a user name or password; pass credentials as an API key"
            )
        if not parsed.host:
            raise ValidationFailed(f"the URL {url[:200]!r} has no host")
        return parsed

    def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, all checked: PermissionDenied if any is internal.

        DNS failures raise socket.gaierror, for the caller to report in its own terms.
        """
        self._refuse_odd_literal(host)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return self._checked(host, infos)

    async def aresolve(self, host: str, port: int) -> list[str]:
        """Like `resolve`, without blocking the event loop."""
        self._refuse_odd_literal(host)
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return self._checked(host, infos)

    def _host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hostnames

    def _refuse_odd_literal(self, host: str) -> None:
        # inet_aton reads 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 as 127.0.0.1;
        # such spellings only serve to slip past filters, so they are refused outright.
        try:
            ipaddress.ip_address(host)
            return
        except ValueError:
            pass
        try:
            socket.inet_aton(host)
        except OSError:
            return
        raise ValidationFailed(
            f"{host!r} is an IP address in an unusual notation; write it as a.b.c.d"
        )

    def _checked(self, host: str, infos: list[Any]) -> list[str]:
        addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
        if self._host_allowed(host):
            return addresses
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            kind = address_kind(ip)
            if kind and not any(ip in net for net in self.networks if net.version == ip.version):
                raise PermissionDenied(
                    f"{host} resolves to {address}, a {kind} address; requests to internal "
                    "addresses are refused. Use a public address, or ask an admin to add it to "
                    "network.allowed_hosts (AIP_NETWORK__ALLOWED_HOSTS)",
                    details={"host": host, "address": address},
                )
        return addresses

    # clients ---------------------------------------------------------------------------

    def client(self, timeout: float = 10.0, headers: dict[str, str] | None = None) -> httpx.Client:
        """An httpx client that connects only to allowed addresses and never follows redirects."""
        transport = httpx.HTTPTransport(trust_env=False)
        _pool(transport)._network_backend = _GuardedBackend(self)
        return httpx.Client(
            transport=transport,
            timeout=timeout,
            headers=headers,
            follow_redirects=False,
            trust_env=False,  # an environment proxy would connect for us, unchecked
        )

    def async_client(
        self, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> httpx.AsyncClient:
        """The async twin of `client`, for forwarding inference requests."""
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        _pool(transport)._network_backend = _AsyncGuardedBackend(self)
        return httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers=headers,
            follow_redirects=False,
            trust_env=False,
        )

    def request(
        self, client: httpx.Client, method: str, url: str, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send a request, following up to MAX_REDIRECTS redirects, each target checked.

        kwargs go to `client.build_request`; with stream=True the caller closes the response.
        """
        request = client.build_request(method, self.check_url(url), **kwargs)
        for _ in range(MAX_REDIRECTS + 1):
            response = client.send(request, stream=stream)
            if response.status_code not in REDIRECT_CODES or "location" not in response.headers:
                return response
            response.close()
            request = self._redirect(client, request, response)
            self.check_url(str(request.url))
        raise UpstreamError(f"{url} redirects more than {MAX_REDIRECTS} times")

    async def arequest(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        stream: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """The async twin of `request` (addresses are checked when connecting)."""
        request = client.build_request(method, self.parse(url), **kwargs)
        for _ in range(MAX_REDIRECTS + 1):
            response = await client.send(request, stream=stream)
            if response.status_code not in REDIRECT_CODES or "location" not in response.headers:
                return response
            await response.aclose()
            request = self._redirect(client, request, response)
        raise UpstreamError(f"{url} redirects more than {MAX_REDIRECTS} times")

    def _redirect(
        self,
        client: httpx.Client | httpx.AsyncClient,
        request: httpx.Request,
        response: httpx.Response,
    ) -> httpx.Request:
        target = self.parse(str(request.url.join(response.headers["location"])))
        method, content = request.method, request.content
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method, content = ("HEAD" if method == "HEAD" else "GET"), b""
        headers = request.headers.copy()
        for name in ("host", "content-length", "transfer-encoding"):
            headers.pop(name, None)
        if not content:
            headers.pop("content-type", None)
        follow = client.build_request(method, target, headers=headers, content=content or None)
        if (target.scheme, target.netloc) != (request.url.scheme, request.url.netloc):
            # Never hand a credential to another origin (client defaults were merged back in).
            follow.headers.pop("authorization", None)
            follow.headers.pop("cookie", None)
        return follow


def _pool(transport: httpx.HTTPTransport | httpx.AsyncHTTPTransport) -> Any:
    # httpx has no public hook for the network backend; fail closed if its internals move.
    pool = getattr(transport, "_pool", None)
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx version cannot be guarded against SSRF; pin httpx 0.28")
    return pool


def _connect_error(host: str, errors: list[OSError]) -> httpcore.ConnectError:
    detail = "; ".join(str(e) for e in errors[-3:]) or "no address"
    return httpcore.ConnectError(f"cannot connect to {host}: {detail}")


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks the host, then connects to a checked address (pinned, no TOCTOU)."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.policy.resolve(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        errors: list[OSError] = []
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                errors.append(OSError(str(exc)))
        raise _connect_error(host, errors)


class _AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of `_GuardedBackend`, over anyio."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.policy.aresolve(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        errors: list[OSError] = []
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                errors.append(OSError(str(exc)))
        raise _connect_error(host, errors)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed for outbound requests")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
