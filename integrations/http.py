"""One HTTP policy for every vendor: timeouts, bounded jittered retries, Retry-After honoured."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from integrations.base import AuthError, IntegrationError, PermanentError, TransientError

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_RETRY_AFTER = 300.0

Sleep = Callable[[float], Awaitable[None]]


def make_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The shared client factory; `transport` lets tests route to a fake."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"User-Agent": "auditbot", **(headers or {})},
        auth=auth,
        timeout=timeout,
        transport=transport,
    )


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or an epoch reset header."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return min(float(value), MAX_RETRY_AFTER)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                return max(0.0, min(parsed.timestamp() - time.time(), MAX_RETRY_AFTER))
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        if reset and reset.isdigit():
            return max(0.0, min(int(reset) - time.time(), MAX_RETRY_AFTER))
    return None


def raise_for_status(response: httpx.Response, vendor: str) -> None:
    """Map a vendor's error answer to the IntegrationError hierarchy (never with the body's secrets)."""
    status = response.status_code
    if status < 400:
        return
    detail = f"{vendor} answered {status} to {response.request.method} {response.request.url.path}"
    if status in RETRY_STATUSES or (status == 403 and retry_after(response) is not None):
        raise TransientError(detail, status=status, vendor=vendor, retry_after=retry_after(response))
    if status in (401, 403):
        raise AuthError(detail, status=status, vendor=vendor)
    raise PermanentError(f"{detail}: {_short(response)}", status=status, vendor=vendor)


def _short(response: httpx.Response) -> str:
    try:
        return response.text[:300]
    except Exception:  # a body we cannot decode says nothing useful
        return ""


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    vendor: str,
    attempts: int = 4,
    sleep: Sleep = asyncio.sleep,
    base_delay: float = 0.5,
    **kwargs: Any,
) -> httpx.Response:
    """Send with bounded retries on transient failures; raise IntegrationError otherwise."""
    for attempt in range(1, attempts + 1):
        try:
            response = await client.request(method, url, **kwargs)
            raise_for_status(response, vendor)
            return response
        except httpx.TimeoutException as exc:
            error: TransientError = TransientError(f"{vendor} timed out on {method} {url}", vendor=vendor)
            error.__cause__ = exc
        except httpx.TransportError as exc:
            error = TransientError(f"{vendor} unreachable on {method} {url}: {exc}", vendor=vendor)
        except TransientError as exc:
            error = exc
        if attempt == attempts:
            raise error
        await sleep(backoff(attempt, base_delay, error.retry_after))
    raise IntegrationError("unreachable")  # pragma: no cover


def backoff(attempt: int, base: float, retry_after_s: float | None = None) -> float:
    """Retry-After when given, else exponential backoff with full jitter."""
    if retry_after_s is not None:
        return retry_after_s
    return random.uniform(0, base * 2 ** (attempt - 1))
