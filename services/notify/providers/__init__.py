"""Delivery channels. Each adapter turns a `Delivery` into one provider call.

    ChannelError                     what went wrong, sorted for the dispatcher
      retryable=True                 timeouts, 5xx, provider rate limits: retry with backoff
      retryable=False                bad number, template not approved: dead-letter at once
      fallback=True                  this channel cannot reach the user (no openid, WeChat
                                     errcode 43101 not subscribed): try the next channel
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.notify.config import TemplateIds
from services.notify.templates import Template


@dataclass(frozen=True)
class Delivery:
    """One message as a channel sees it (phone decrypted for the call only)."""

    message_id: str
    template: Template
    params: Mapping[str, str]
    text: str
    phone: str | None
    openid: str | None
    ids: TemplateIds = field(default_factory=TemplateIds)
    phone_index: str | None = None
    phone_masked: str = ""
    queued_at: datetime | None = None


class ChannelError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool, fallback: bool = False):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.fallback = fallback


class Channel(Protocol):
    name: str          # "sms", "subscribe", "official"
    provider: str      # "console", "aliyun", "tencent", "wechat"

    async def deliver(self, delivery: Delivery) -> str:
        """Send; return the provider's receipt id. Raise ChannelError on failure."""
        ...
