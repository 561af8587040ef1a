"""Where a webhook may be sent, and sending it.

A destination is an http(s) URL whose host resolves only to public addresses: every
address the name resolves to is checked (a name with one private address among public
ones is refused), at registration and again at each delivery, and the connection goes
to the address that was checked, so a name re-pointed at 127.0.0.1 after registration
(DNS rebinding) reaches nothing. `allow_private` (CRM_WEBHOOK_ALLOW_PRIVATE=1, on in
demo mode) lifts the address rule for development and tests; the scheme and form rules
stay.

The client is a small HTTP/1.1 one on asyncio streams: one POST per connection, a total
timeout, redirects never followed (a 3xx is a failed attempt), at most `max_body` bytes
of the answer read."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
USER_AGENT = "partner-crm-webhooks/1"


class Refused(ValueError):
    """The URL may not be a webhook destination; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (the TLS server name and the Host header)
    port: int
    path: str  # path and query


def parse(url: str) -> Target:
    """The URL's parts, or Refused: only http/https, a host, no credentials, printable
    characters only, at most MAX_URL_LENGTH."""
    if not isinstance(url, str) or not url:
        raise Refused("The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise Refused("The URL holds spaces, control or non-ASCII characters (percent-encode them; punycode for "
                      "hosts).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise Refused(f"The URL is malformed ({error}).") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("Only http and https URLs are delivered to.")
    if not parts.hostname:
        raise Refused("The URL names no host.")
    if parts.username is not None or parts.password is not None:
        raise Refused("The URL may not carry credentials; authenticate deliveries by their signature.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


# IPv6 prefixes that carry an IPv4 address a gateway may reach: NAT64 (RFC 6052, the
# last 32 bits) and the deprecated IPv4-compatible ::a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL or address.teredo is not None:
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _private(embedded)
    return not address.is_global or address.is_multicast or address.is_reserved


async def addresses(target: Target, *, allow_private: bool) -> list[str]:
    """Every address the host resolves to, all checked; Refused when it does not
    resolve or (unless `allow_private`) one is loopback, link-local, private or
    otherwise not public."""
    try:
        literal = ipaddress.ip_address(target.host)
        found = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            raise Refused(f"The host {target.host[:100]} does not resolve.") from None
        found = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not found:
        raise Refused(f"The host {target.host[:100]} does not resolve.")
    if not allow_private:
        bad = sorted({str(a) for a in found if _private(a)})
        if bad:
            raise Refused(f"The host resolves to a loopback, link-local or private address ({', '.join(bad[:3])}); "
                          "only public addresses are delivered to.")
    return [str(a) for a in dict.fromkeys(found)]


RESOLVE_TIMEOUT = 5.0  # seconds a registration waits for DNS


async def check(url: str, *, allow_private: bool) -> Target:
    target = parse(url)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await addresses(target, allow_private=allow_private)
    except TimeoutError:
        raise Refused(f"The host {target.host[:100]} did not resolve within {RESOLVE_TIMEOUT:g} s.") from None
    return target


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP answer
    latency_ms: int
    error: str | None  # None: a 2xx

    @property
    def ok(self) -> bool:
        return self.error is None


async def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float,
               max_body: int = 64 * 1024) -> Response:
    """POSTs `body`; never raises for what the receiver or the network does."""
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> Response:
        return Response(status, int((time.monotonic() - started) * 1000), error)

    try:
        target = parse(url)
        async with asyncio.timeout(timeout):
            address = (await addresses(target, allow_private=allow_private))[0]
            context = ssl.create_default_context() if target.scheme == "https" else None
            reader, writer = await asyncio.open_connection(
                address, target.port, ssl=context, server_hostname=target.host if context else None)
            try:
                host = target.host if ":" not in target.host else f"[{target.host}]"
                default = (target.scheme == "https" and target.port == 443) or (target.scheme == "http" and target.port == 80)
                lines = [f"POST {target.path} HTTP/1.1", f"Host: {host if default else f'{host}:{target.port}'}",
                         f"User-Agent: {USER_AGENT}", "Content-Type: application/json",
                         f"Content-Length: {len(body)}", "Connection: close",
                         *(f"{name}: {value}" for name, value in headers.items())]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
                await writer.drain()
                status_line = await reader.readline()
                parts = status_line.decode("latin-1").split(" ", 2)
                # A status is three digits (RFC 9110, 100-599); anything else is not an
                # answer to record (a huge "status" once failed a whole batch's record).
                if (len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isascii()
                        or not parts[1].isdigit() or not 100 <= int(parts[1]) <= 599 or len(parts[1]) != 3):
                    return done(None, "The answer is not HTTP.")
                status = int(parts[1])
                # The headers and at most max_body bytes of the body, then the connection is closed.
                await reader.read(max_body)
            finally:
                writer.close()
                try:
                    await asyncio.wait_for(writer.wait_closed(), 1)
                except (OSError, asyncio.TimeoutError, ssl.SSLError):
                    pass
    except Refused as refused:
        return done(None, str(refused))
    except TimeoutError:
        return done(None, f"No answer within {timeout:g} s.")
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as error:
        return done(None, f"{type(error).__name__}: {str(error)[:200]}")
    if 200 <= status < 300:
        return done(status, None)
    if 300 <= status < 400:
        return done(status, f"HTTP {status}: redirects are not followed.")
    return done(status, f"HTTP {status}.")
