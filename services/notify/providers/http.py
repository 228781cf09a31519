"""Shared HTTP plumbing for provider adapters: one request, errors sorted for retries."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.notify.providers import ChannelError


async def call(http: httpx.AsyncClient, method: str, url: str, *, timeout: float,
               **kwargs: Any) -> tuple[int, Any]:
    """Send one request; (status, parsed JSON or None). Transport trouble is retryable."""
    try:
        response = await http.request(method, url, timeout=timeout, **kwargs)
    except httpx.TimeoutException as error:
        raise ChannelError("provider_timeout", f"服务商超时 ({type(error).__name__})",
                           retryable=True) from None
    except httpx.TransportError as error:
        raise ChannelError("provider_unreachable", f"无法连接服务商 ({type(error).__name__})",
                           retryable=True) from None
    try:
        data = json.loads(response.content) if response.content else None
    except ValueError:
        data = None
    if response.status_code >= 500 or response.status_code == 429:
        raise ChannelError(f"http_{response.status_code}",
                           f"服务商暂时不可用 (HTTP {response.status_code})", retryable=True)
    return response.status_code, data
