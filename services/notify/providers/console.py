"""The console provider: development and tests. Messages land in the dev inbox
(`notify_dev_inbox`, shown at /dev/inbox) instead of a phone."""

from __future__ import annotations

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from services.clock import Clock
from services.notify.providers import Delivery


class ConsoleChannel:
    provider = "console"

    def __init__(self, name: str, inbox: AsyncCollection, clock: Clock):
        self.name = name
        self.inbox = inbox
        self.clock = clock

    async def deliver(self, delivery: Delivery) -> str:
        receipt = ObjectId()
        # a plain insert: a message delivered twice shows twice (tests can see it)
        await self.inbox.insert_one({
            "_id": receipt, "message_id": delivery.message_id, "channel": self.name,
            "template": delivery.template.name, "title": delivery.template.title,
            "text": delivery.text, "params": dict(delivery.params),
            "phone_index": delivery.phone_index, "phone_masked": delivery.phone_masked,
            "openid": delivery.openid, "at": self.clock.now(),
            "queued_at": delivery.queued_at or self.clock.now(),
        })
        return f"console-{receipt}"
