"""The dev inbox: what the console provider "sent" (development and tests only).

`GET /dev/inbox?phone=138…` answers JSON (newest first) to programs and an HTML page to
browsers (Accept: text/html). Registered through server/routes.py `dev_routes()`, so it
does not exist in production.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from handlers.base import PUBLIC, ApiHandler, PageHandler, api
from services.clock import format_local
from services.models import ApiModel, OutModel


class InboxQuery(ApiModel):
    phone: str | None = Field(None, max_length=20)
    openid: str | None = Field(None, max_length=64)
    limit: int = Field(50, ge=1, le=500)


class InboxItemOut(OutModel):
    id: str
    message_id: str
    channel: str
    template: str
    title: str
    text: str
    params: dict[str, str]
    phone: str
    openid: str | None = None
    at: datetime = Field(description="送达（控制台）时间")
    queued_at: datetime | None = Field(None, description="消息创建时间（列表按此倒序）")


class DevInboxHandler(ApiHandler, PageHandler):
    @api(auth=PUBLIC, query=InboxQuery, response=list[InboxItemOut],
         summary="开发收件箱（仅开发/测试环境）", tags=("dev",))
    async def get(self, query: InboxQuery):
        """Messages delivered by the console provider, newest first (JSON, or a page)."""
        items = await self.services.notify.dev_inbox(query.phone, query.openid, query.limit)
        if "text/html" in self.request.headers.get("Accept", ""):
            self.render("dev/inbox.html", items=items, phone=query.phone or "",
                        local_time=_local_time, page_title="开发收件箱")
            return None
        return items


def _local_time(moment: Any) -> str:
    return format_local(moment, "%m-%d %H:%M:%S")


routes = [
    (r"/dev/inbox", DevInboxHandler),
]
