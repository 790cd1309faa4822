"""Outgoing webhooks: one signed JSON POST to a URL a user gave, to public addresses only unless
WEBHOOK_ALLOW_PRIVATE=true.

The URL's host is resolved once per delivery, every address it resolves to is checked, and the connection goes
to the checked address (the Host header and the TLS server name stay the URL's host, so certificates are
verified as usual): a name that resolves to a public address when checked and to a private one a moment later
(DNS rebinding) cannot reach the private one. No redirect is followed (a redirect could point anywhere), and
the timeout is short. The body is signed: `X-Cratedigger-Signature: sha256=<hex HMAC-SHA256 of the body>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

import httpx

from app.errors import CratediggerError, PermanentSourceError, TransientSourceError
from app.sources.http import REDIRECT_STATUSES, Verdict, classify, parse_retry_after

SIGNATURE_HEADER = "X-Cratedigger-Signature"
DELIVERY_HEADER = "X-Cratedigger-Delivery"
USER_AGENT = "Cratedigger-Webhook/0.1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RESOLVE_TIMEOUT_SECONDS = 5.0
PRIVATE_HINT = "set WEBHOOK_ALLOW_PRIVATE=true to deliver to private or local addresses"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidWebhookUrl(CratediggerError, ValueError):
    """A webhook URL Cratedigger cannot deliver to (the message says why)."""


class NonPublicAddress(PermanentSourceError, InvalidWebhookUrl):
    """The webhook's host is, or resolves to, a private, loopback, link-local or otherwise non-public address."""


def build_client() -> httpx.AsyncClient:
    """The deliveries' client: no redirects, no proxies or .netrc from the environment, a short timeout."""
    return httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=TIMEOUT)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def shown(url: str) -> str:
    """The URL as messages show it: scheme and host only (paths and queries of webhook URLs often hold tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


def parse_webhook_url(url: str) -> SplitResult:
    """The URL's parts; raises InvalidWebhookUrl for anything but an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (a port out of range raises here)
    except ValueError as error:
        raise InvalidWebhookUrl(f"webhook_url is not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("webhook_url must be an absolute http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl(
            "webhook_url must not carry credentials (user:password@); the body is signed with the watchlist's "
            "webhook_secret instead"
        )
    return parts


def is_public(address: IPAddress) -> bool:
    """Routable on the internet: not private, loopback, link-local, shared (CGNAT), reserved or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` stands for (itself when it is an IP literal), in the resolver's order."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError) as error:
        raise TransientSourceError(f"the webhook host {host!r} could not be resolved: {error}") from error
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    if not addresses:
        raise TransientSourceError(f"the webhook host {host!r} resolves to no address")
    return addresses


async def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """`host`'s addresses, all of them public unless `allow_private`; raises NonPublicAddress otherwise."""
    addresses = await resolve(host, port)
    refused = [str(address) for address in addresses if not is_public(address)]
    if refused and not allow_private:
        resolves = "is" if refused == [host] else f"resolves to {', '.join(refused)}, which is"
        raise NonPublicAddress(
            f"Webhook refused: the host {host!r} {resolves} not a public address; {PRIVATE_HINT}"
        )
    return addresses


class WebhookSender:
    """Sends one signed delivery; the client is handed in (its transport can be a test's)."""

    def __init__(self, *, client: httpx.AsyncClient, allow_private: bool) -> None:
        self._client = client
        self._allow_private = allow_private

    async def send(self, *, url: str, body: bytes, secret: str, delivery_id: str) -> int:
        """POST `body` to `url`; the answer's status (2xx). Raises TransientSourceError for what may pass next
        time (timeouts, refused connections, 408/429/5xx) and PermanentSourceError for the rest."""
        parts = parse_webhook_url(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = (await checked_addresses(host, port, allow_private=self._allow_private))[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        request = self._client.build_request(
            "POST",
            parts._replace(netloc=f"{literal}:{port}").geturl(),
            content=body,
            headers={
                "Host": parts.netloc,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: sign(body, secret),
                DELIVERY_HEADER: delivery_id,
            },
            extensions={"sni_hostname": host} if parts.scheme == "https" else {},
        )
        try:
            response = await self._client.send(request, follow_redirects=False)
            await response.aclose()  # the answer's body is not needed
        except httpx.TransportError as error:
            raise TransientSourceError(f"webhook {shown(url)} did not answer: {error!r}") from error
        return _outcome(url, response)


def _outcome(url: str, response: httpx.Response) -> int:
    status = response.status_code
    if status in REDIRECT_STATUSES or 300 <= status < 400:
        raise PermanentSourceError(
            f"webhook {shown(url)} answered {status} (a redirect); redirects are not followed: use the final URL"
        )
    verdict = classify(status, response.headers)
    if verdict is Verdict.TRANSIENT:
        raise TransientSourceError(
            f"webhook {shown(url)} answered {status}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if verdict is not Verdict.OK:
        raise PermanentSourceError(f"webhook {shown(url)} refused the delivery with {status}")
    return status
