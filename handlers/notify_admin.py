"""Admin: the notification outbox (queued, failed, sent, dead, with attempts) and retry."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from handlers.auth import staff
from handlers.base import ApiHandler, PageHandler, api
from services.crypto import mask_phone
from services.models import ApiModel, OutModel

ADMIN = staff("admin")


class MessageQuery(ApiModel):
    status: Literal["queued", "failed", "sent", "dead"] | None = None
    recipient: str | None = Field(None, max_length=64, description="手机号或 openid")
    limit: int = Field(100, ge=1, le=500)


class AttemptOut(OutModel):
    at: datetime
    channel: str
    provider: str
    outcome: Literal["sent", "retry", "rejected", "fallback"]
    code: str | None = None
    error: str | None = None


class DeferredOut(OutModel):
    reason: str
    until: datetime


class ErrorOut(OutModel):
    code: str
    message: str


class MessageOut(OutModel):
    id: str
    event: str
    template: str
    status: Literal["queued", "failed", "sent", "dead"]
    urgent: bool
    phone: str = Field(description="脱敏手机号")
    openid: str | None = None
    official_openid: str | None = None
    account_id: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    channel: str | None = None
    tries: int
    attempts: list[AttemptOut]
    deferred: DeferredOut | None = None
    last_error: ErrorOut | None = None


class MessageListHandler(ApiHandler):
    @api(auth=ADMIN, query=MessageQuery, response=list[MessageOut],
         summary="消息发送记录（管理员）", tags=("admin",))
    async def get(self, query: MessageQuery):
        """Outbox messages, newest first, by status and/or recipient phone/openid (audited)."""
        messages = await self.services.notify.list_messages(query.status, query.recipient,
                                                            query.limit)
        await self.services.audit.record(
            self.actor, "notify.messages.list", ip=self.client_ip, request_id=self.request_id,
            details={"status": query.status, "recipient": mask_phone(query.recipient),
                     "count": len(messages)})
        return messages


class MessageRetryHandler(ApiHandler):
    @api(auth=ADMIN, response=MessageOut, errors=(404, 409), summary="重发失败消息（管理员）",
         tags=("admin",))
    async def post(self, message_id: str):
        """Queue a dead message again with a fresh retry budget (409 unless it is dead)."""
        message = await self.services.notify.retry_dead(message_id)
        await self.services.audit.record(self.actor, "notify.message.retry",
                                         ip=self.client_ip, request_id=self.request_id,
                                         details={"message_id": message_id})
        return message


class MessagesPageHandler(PageHandler):
    async def get(self):
        """The admin outbox page (a shell: data comes from the admin API with a staff token)."""
        self.render("admin/messages.html", page_title="消息发送记录")


routes = [
    (r"/api/v1/admin/messages", MessageListHandler),
    (r"/api/v1/admin/messages/(?P<message_id>[^/]+)/retry", MessageRetryHandler),
    (r"/admin/messages", MessagesPageHandler),
]
