"""Notifications: a durable outbox in MongoDB, SMS (Aliyun, Tencent Cloud), WeChat
subscribe / 公众号 template messages, and a console provider for development.

    await services.notify.send(event, Recipient(phone=..., openid=..., account_id=...),
                               "appointment_booked", {...}, dedup_key="booking:<id>")
"""

from services.notify.config import NotifyConfig
from services.notify.service import NotifyService, Recipient
from services.notify.templates import TEMPLATES, Template, TemplateError

__all__ = [
           "TEMPLATES",
           "NotifyConfig",
           "NotifyService",
           "Recipient",
           "Template",
           "TemplateError",
]
