"""A demo bill for development (`run.py demo-bill --phone …`): something to pay in the sandbox."""

from __future__ import annotations

import secrets
from typing import Any

from services.billing.models import BillOut
from services.errors import BusinessRuleViolation


async def create_demo_bill(services: Any, phone: str) -> BillOut:
    """An unpaid 诊间 bill (drugs, a test, an insurance split) for the account's first member."""
    if not services.settings.development:
        raise BusinessRuleViolation("development_only", "仅开发环境可用")
    account = await services.identity.account_for_phone(phone)
    members = await services.identity.list_patients(str(account["_id"]))
    if not members:
        raise BusinessRuleViolation("no_family_member", "该账号还没有就诊人，请先在 H5 添加")
    bill, _ = await services.billing.create_bill(
        source="his", source_ref="DEMO" + secrets.token_hex(6).upper(), patient=members[0],
        title="门诊缴费", prescription_no=None,
        visit={"visit_no": "MZ" + secrets.token_hex(4).upper(), "department": "呼吸内科",
               "doctor": "王建国"},
        items=[{"name": "阿莫西林胶囊", "category": "西药", "quantity": "2", "unit": "盒",
                "unit_price_fen": 1580, "amount_fen": 3160},
               {"name": "血常规", "category": "检验", "quantity": "1", "unit": "次",
                "unit_price_fen": 2500, "amount_fen": 2500}],
        insurance={"pooled_fen": 3000, "personal_account_fen": 0, "self_pay_fen": 2660})
    return bill
