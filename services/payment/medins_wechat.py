"""WeChat Pay 移动医保支付 2.0: the mixed order (`/v3/med-ins/orders`) over the APIv3 client.

Same signing and response verification as every APIv3 call (client.py). The cash part of a
mixed order refunds through the ordinary refund API (§1.7) by its out_trade_no.
"""

from __future__ import annotations

from typing import Any

from services.payment.client import WechatPayClient

MIX_PAY_TYPES = ("CASH_ONLY", "INSURANCE_ONLY", "CASH_AND_INSURANCE")
ORDER_TYPES = ("REG_PAY", "DIAG_PAY", "IN_HOSP_PAY")


class WechatMedInsClient:
    def __init__(self, client: WechatPayClient):
        self.client = client

    async def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v3/med-ins/orders → {mix_trade_no, mix_pay_status, ...}."""
        payload = {"appid": self.client.creds.appid, "mchid": self.client.creds.mchid, **body}
        response = await self.client.request("POST", "/v3/med-ins/orders", body=payload)
        return response.json()

    async def query_order(self, mix_trade_no: str) -> dict[str, Any]:
        """GET /v3/med-ins/orders/mix-trade-no/{id}: mix / self-pay / insurance statuses."""
        response = await self.client.request(
            "GET", f"/v3/med-ins/orders/mix-trade-no/{mix_trade_no}",
            query={"mchid": self.client.creds.mchid})
        return response.json()
