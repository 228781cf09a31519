"""Build the configured channels (sms, subscribe, official) over the shared httpx client."""

from __future__ import annotations

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from services.clock import Clock
from services.notify.config import NotifyConfig
from services.notify.providers import Channel
from services.notify.providers.console import ConsoleChannel


def build_channels(config: NotifyConfig, http: httpx.AsyncClient, clock: Clock,
                   inbox: AsyncCollection) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, provider in (("sms", config.sms_provider),
                           ("subscribe", config.subscribe_provider),
                           ("official", config.official_provider)):
        if provider == "none":
            continue
        if provider == "console":
            channels[name] = ConsoleChannel(name, inbox, clock)
        else:
            raise ValueError(f"notify: provider {provider!r} for {name} is not available yet")
    return channels
