"""The 医保 移动支付中心 client (6201 fee upload, 6301 query, 6401 reversal, 6203 refund).

Field names follow what public implementations of the mobile-payment platform show and are
to be confirmed at the hospital's onboarding (PROTOCOLS.md §1.9). The platform's real
transport (SM4-encrypted envelope, SM2 signature) is handed out on onboarding; until then the
envelope is `{infno, msgid, orgCodg, input}` signed with HMAC-SHA256 over the exact body in
`X-Medins-Signature`, and answers `{code, message, data}` (code 0 = success).

Money is integer fen everywhere in Palm Hospital; this module is the one edge where it
becomes a yuan string with two decimals ("12.30"), and back, without floats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from services.errors import BusinessRuleViolation, DependencyUnavailable

log = logging.getLogger("palm.medins")

# 6301 ordStas: what each status lets us conclude (amounts are trusted only when settled)
PROCESSING_STATUSES = frozenset({0, 1, 2})
SETTLED_STATUSES = frozenset({3, 4, 5, 6})
CANCELLED_STATUSES = frozenset(range(7, 14))
FAILED_STATUSES = frozenset({14, 15, 16})
YUAN = re.compile(r"-?\d{1,12}(\.\d{1,2})?")


def fen_to_yuan(fen: int) -> str:
    """12345 → "123.45" (the 医保 side's amount format)."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError("amounts are integer fen")
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def yuan_to_fen(text: Any) -> int:
    """"123.45" → 12345; anything that is not a plain yuan amount with ≤ 2 decimals is refused."""
    if not isinstance(text, str) or not YUAN.fullmatch(text.strip()):
        raise MedInsRejected("bad_amount", f"金额格式错误: {text!r}")
    return int(Decimal(text.strip()) * 100)


class MedInsRejected(BusinessRuleViolation):
    """The 移动支付中心 answered with a non-zero code."""

    default_code = "medins_rejected"
    default_message = "医保结算平台拒绝了本次请求"

    def __init__(self, center_code: str, center_message: str):
        super().__init__(details={"center_code": center_code})
        self.center_code = center_code
        self.center_message = center_message


def medins_unavailable(reason: str) -> DependencyUnavailable:
    return DependencyUnavailable("medins_unavailable", "医保结算平台暂时不可用，请稍后再试",
                                 details={"reason": reason})


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass
class MedInsCenterConfig:
    base_url: str
    org_code: str            # 定点医药机构编码 (orgCodg)
    secret: bytes
    timeout_seconds: float = 5.0


class MedInsCenterClient:
    """One call per interface; timeouts and 5xx become `medins_unavailable`."""

    def __init__(self, http: httpx.AsyncClient, config: MedInsCenterConfig):
        self.http = http
        self.config = config

    async def call(self, infno: str, data: dict[str, Any], msgid: str | None = None
                   ) -> dict[str, Any]:
        """Send one interface message; `msgid` makes a retry recognisable as the same message."""
        envelope = {"infno": infno, "msgid": msgid or secrets.token_hex(12),
                    "orgCodg": self.config.org_code, "input": data}
        raw = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = await self.http.post(
                f"{self.config.base_url.rstrip('/')}/{infno}", content=raw,
                headers={"Content-Type": "application/json",
                         "X-Medins-Signature": sign(self.config.secret, raw)},
                timeout=self.config.timeout_seconds)
        except httpx.HTTPError as error:
            log.warning("medins %s: %s", infno, type(error).__name__)
            raise medins_unavailable(type(error).__name__) from None
        if response.status_code >= 500:
            raise medins_unavailable(f"http {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise medins_unavailable("not json") from None
        if str(answer.get("code")) != "0":
            raise MedInsRejected(str(answer.get("code")), str(answer.get("message", "")))
        return answer.get("data") or {}

    async def upload_fees(self, *, pay_auth_no: str, med_org_ord: str, items: list[dict],
                          total_fen: int) -> dict[str, Any]:
        """6201 费用明细上传 → payOrdId, payToken and the platform's split (in fen)."""
        details = [{"feedetlSn": f"{med_org_ord}-{n:03d}", "medinsListName": item["name"],
                    "cnt": str(item["quantity"]), "pric": fen_to_yuan(item["unit_price_fen"]),
                    "detItemFeeSumamt": fen_to_yuan(item["amount_fen"])}
                   for n, item in enumerate(items, 1)]
        data = await self.call("6201", {"payAuthNo": pay_auth_no, "medOrgOrd": med_org_ord,
                                        "medfeeSumamt": fen_to_yuan(total_fen),
                                        "feedetailList": details}, msgid=f"{med_org_ord}-6201")
        return {"pay_ord_id": data["payOrdId"], "pay_token": data["payToken"],
                **split_in_fen(data)}

    async def query(self, *, pay_ord_id: str, pay_token: str) -> dict[str, Any]:
        """6301 订单结算结果查询 → {status:int, settled: bool, amounts in fen when settled}."""
        data = await self.call("6301", {"payOrdId": pay_ord_id, "payToken": pay_token})
        status = int(data.get("ordStas", -1))
        result: dict[str, Any] = {"status": status, "setl_id": data.get("setlId", "")}
        if status in SETTLED_STATUSES:
            result.update(split_in_fen(data))
        return result

    async def reverse(self, *, pay_ord_id: str, med_org_ord: str) -> dict[str, Any]:
        """6401 冲正: undo whatever the platform did for this order (idempotent by msgid)."""
        return await self.call("6401", {"payOrdId": pay_ord_id, "medOrgOrd": med_org_ord},
                               msgid=f"{med_org_ord}-6401")

    async def refund(self, *, pay_ord_id: str, refund_no: str, refund_type: str,
                     amount_fen: int) -> dict[str, Any]:
        """6203 退费 with refdType ALL | CASH | HI (idempotent by our refund number)."""
        data = await self.call("6203", {"payOrdId": pay_ord_id, "appRefdSn": refund_no,
                                        "refdType": refund_type,
                                        "totlRefdAmt": fen_to_yuan(amount_fen)},
                               msgid=f"{refund_no}-6203")
        return {"status": data.get("refdStas", ""), "refund_id": data.get("refdId", "")}

    async def statement(self, date: str) -> list[dict[str, Any]]:
        """The bureau's statement of a day: one row per settled order, amounts in fen."""
        data = await self.call("statement", {"stmtDate": date})
        return [{"med_org_ord": row["medOrgOrd"], "pay_ord_id": row["payOrdId"],
                 "kind": row.get("kind", "pay"), **split_in_fen(row)}
                for row in data.get("rows", [])]


def split_in_fen(data: dict[str, Any]) -> dict[str, int]:
    """The platform's 统筹 / 个人账户 / 自费 split, converted at this edge."""
    return {"total_fen": yuan_to_fen(data.get("feeSumamt", "0")),
            "fund_fen": yuan_to_fen(data.get("fundPay", "0")),
            "account_fen": yuan_to_fen(data.get("psnAcctPay", "0")),
            "cash_fen": yuan_to_fen(data.get("ownPayAmt", "0"))}
