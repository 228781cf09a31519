"""The local 医保 sandbox: both sides of a mixed 医保 + 自费 payment, for tests and development.

- the 移动支付中心 (6201 / 6301 / 6401 / 6203 / statement), speaking yuan strings and
  checking the HMAC signature of medins_center.py;
- WeChat's `/v3/med-ins/orders` (signed and verified like the APIv3 sandbox it borrows keys
  and signatures from); the cash leg is also written into that sandbox's orders, so the
  ordinary refund API (§1.7) refunds it.

Failure modes a test chooses per order (`insurance_outcome`): "success", "fail" (the
insurance leg is refused after the cash leg went through), "hang" (the insurance leg never
answers: 6301 stays processing); `center_delay` and `mix_order_delay` make the center's
calls or WeChat's order creation slow (timeouts, and a window for a test to "crash" in).
State is in memory: the sandbox serves one process's tests and demos.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from services.clock import Clock, local
from services.payment.medins_center import fen_to_yuan, sign, yuan_to_fen
from services.payment.sandbox import SandboxError, SandboxWechatPay


@dataclass
class SandboxMedInsOrder:
    med_org_ord: str
    pay_auth_no: str
    pay_ord_id: str
    pay_token: str
    total_fen: int
    fund_fen: int
    account_fen: int
    cash_fen: int
    status: int = 0                      # 6301 ordStas
    mix_trade_no: str = ""
    out_trade_no: str = ""
    self_pay_status: str = "SELF_PAY_CREATED"
    med_ins_pay_status: str = "MED_INS_PAY_CREATED"
    mix_pay_status: str = "MIX_PAY_CREATED"
    insurance_outcome: str = "success"
    settled_on: str = ""
    callback_url: str = ""
    refunds: list[dict[str, Any]] = field(default_factory=list)
    reversals: int = 0


class SandboxMedIns:
    def __init__(self, wechat: SandboxWechatPay, clock: Clock, secret: bytes,
                 org_code: str = "H00000000001"):
        self.wechat = wechat
        self.clock = clock
        self.secret = secret
        self.org_code = org_code
        self.orders: dict[str, SandboxMedInsOrder] = {}      # by pay_ord_id
        self.by_mix: dict[str, str] = {}
        self.center_delay = 0.0
        self.mix_order_delay = 0.0
        self.insurance_outcome = "success"
        self.fund_percent = 30
        self.account_percent = 10
        self.statement_overrides: dict[str, dict[str, str]] = {}

    # ---- 移动支付中心 -------------------------------------------------------------------
    async def center(self, infno: str, raw: bytes, signature: str,
                     envelope: dict[str, Any]) -> dict[str, Any]:
        if self.center_delay:
            await asyncio.sleep(self.center_delay)
        if not hmac.compare_digest(sign(self.secret, raw), signature):
            return {"code": "-1", "message": "签名错误"}
        if envelope.get("orgCodg") != self.org_code:
            return {"code": "-2", "message": "机构编码错误"}
        data = envelope.get("input") or {}
        handler = {"6201": self._upload, "6301": self._query, "6401": self._reverse,
                   "6203": self._refund, "statement": self._statement}.get(infno)
        if handler is None:
            return {"code": "-3", "message": f"未知交易 {infno}"}
        try:
            return {"code": 0, "message": "成功", "data": handler(data)}
        except SandboxError as error:
            return {"code": error.code, "message": error.message}

    def _upload(self, data: dict[str, Any]) -> dict[str, Any]:
        total = yuan_to_fen(data["medfeeSumamt"])
        if sum(yuan_to_fen(d["detItemFeeSumamt"]) for d in data["feedetailList"]) != total:
            raise SandboxError(400, "6201-01", "费用明细金额与总额不符")
        for order in self.orders.values():       # a retried upload answers the same order
            if order.med_org_ord == data["medOrgOrd"]:
                return self._split(order, payOrdId=order.pay_ord_id, payToken=order.pay_token)
        fund = total * self.fund_percent // 100
        account = total * self.account_percent // 100
        order = SandboxMedInsOrder(
            med_org_ord=data["medOrgOrd"], pay_auth_no=data["payAuthNo"],
            pay_ord_id="ORD" + secrets.token_hex(8).upper(), pay_token=secrets.token_hex(16),
            total_fen=total, fund_fen=fund, account_fen=account,
            cash_fen=total - fund - account, insurance_outcome=self.insurance_outcome)
        self.orders[order.pay_ord_id] = order
        return self._split(order, payOrdId=order.pay_ord_id, payToken=order.pay_token)

    def _order(self, pay_ord_id: str) -> SandboxMedInsOrder:
        order = self.orders.get(pay_ord_id)
        if order is None:
            raise SandboxError(404, "6301-04", "订单不存在")
        return order

    def _query(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._order(data["payOrdId"])
        if data.get("payToken") != order.pay_token:
            raise SandboxError(400, "6301-02", "payToken 错误")
        return self._split(order, ordStas=str(order.status), setlId=f"SETL{order.pay_ord_id}")

    def _reverse(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._order(data["payOrdId"])
        order.reversals += 1
        if order.status not in (9, 10):
            order.status = 9                  # 已冲正
            order.med_ins_pay_status = ("MED_INS_PAY_REFUND"
                                        if order.med_ins_pay_status == "MED_INS_PAY_SUCCESS"
                                        else "MED_INS_PAY_FAIL")
        return {"ordStas": str(order.status)}

    def _refund(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._order(data["payOrdId"])
        for done in order.refunds:
            if done["appRefdSn"] == data["appRefdSn"]:
                return {"refdStas": "SUCCESS", "refdId": done["refdId"]}
        if order.status not in (3, 4, 5, 6):
            raise SandboxError(400, "6203-03", "订单未结算，不能退费")
        refund = {**data, "refdId": "RF" + secrets.token_hex(6).upper(),
                  "day": local(self.clock.now()).date().isoformat()}
        order.refunds.append(refund)
        if data["refdType"] in ("ALL", "HI"):
            order.status = 6                  # 已退费 (still a settled order for amounts)
            order.med_ins_pay_status = "MED_INS_PAY_REFUND"
        return {"refdStas": "SUCCESS", "refdId": refund["refdId"]}

    def _statement(self, data: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for order in self.orders.values():
            if order.settled_on == data["stmtDate"]:
                row = self._split(order, medOrgOrd=order.med_org_ord, payOrdId=order.pay_ord_id,
                                  kind="pay")
                rows.append({**row, **self.statement_overrides.get(order.med_org_ord, {})})
        return {"rows": rows}

    @staticmethod
    def _split(order: SandboxMedInsOrder, **extra: Any) -> dict[str, Any]:
        return {"feeSumamt": fen_to_yuan(order.total_fen), "fundPay": fen_to_yuan(order.fund_fen),
                "psnAcctPay": fen_to_yuan(order.account_fen),
                "ownPayAmt": fen_to_yuan(order.cash_fen), **extra}

    # ---- WeChat /v3/med-ins/orders ------------------------------------------------------
    async def create_mix_order(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.mix_order_delay:
            await asyncio.sleep(self.mix_order_delay)
        if body.get("mchid") != self.wechat.keys.mchid or body.get("appid") != self.wechat.keys.appid:
            raise SandboxError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        order = self.orders.get(body.get("pay_order_id", ""))
        if order is None or body.get("pay_auth_no") != order.pay_auth_no:
            raise SandboxError(400, "PARAM_ERROR", "医保支付单不存在或授权不符")
        if order.status == 9:
            raise SandboxError(400, "ORDER_CLOSED", "医保支付单已冲正")
        if (int(body.get("total_fee", -1)) != order.total_fen
                or int(body.get("wechat_pay_cash_fee", -1)) != order.cash_fen
                or int(body.get("med_ins_gov_fee", -1)) != order.fund_fen
                or int(body.get("med_ins_self_fee", -1)) != order.account_fen):
            raise SandboxError(400, "PARAM_ERROR", "金额与医保预结算不符")
        if order.mix_trade_no:
            if order.out_trade_no != body.get("out_trade_no"):
                raise SandboxError(400, "INVALID_REQUEST", "医保支付单已下单")
            return self.mix_order(order)
        order.mix_trade_no = "MIX" + secrets.token_hex(10).upper()
        order.out_trade_no = body["out_trade_no"]
        order.callback_url = body.get("callback_url", "")
        if order.cash_fen == 0:
            order.self_pay_status = "NO_SELF_PAY"
        self.by_mix[order.mix_trade_no] = order.pay_ord_id
        return self.mix_order(order)

    def order_by_mix(self, mix_trade_no: str) -> SandboxMedInsOrder:
        pay_ord_id = self.by_mix.get(mix_trade_no)
        if pay_ord_id is None:
            raise SandboxError(404, "ORDER_NOT_EXIST", "订单不存在")
        return self.orders[pay_ord_id]

    def mix_order(self, order: SandboxMedInsOrder) -> dict[str, Any]:
        return {"mix_trade_no": order.mix_trade_no, "out_trade_no": order.out_trade_no,
                "pay_order_id": order.pay_ord_id, "mix_pay_status": order.mix_pay_status,
                "self_pay_status": order.self_pay_status,
                "med_ins_pay_status": order.med_ins_pay_status,
                "total_fee": order.total_fen, "wechat_pay_cash_fee": order.cash_fen,
                "med_ins_gov_fee": order.fund_fen, "med_ins_self_fee": order.account_fen}

    async def pay(self, mix_trade_no: str) -> dict[str, Any]:
        """The patient confirmed in WeChat: the cash leg, then the insurance leg by outcome.

        Returns the notice WeChat would send (the caller may deliver it many times)."""
        order = self.order_by_mix(mix_trade_no)
        now = self.clock.now()
        if order.cash_fen and order.self_pay_status == "SELF_PAY_CREATED":
            order.self_pay_status = "SELF_PAY_SUCCESS"
            await self.wechat.orders.update_one({"_id": order.out_trade_no}, {"$setOnInsert": {
                "description": "医保混合支付", "total": order.cash_fen, "openid": "o_medins",
                "notify_url": "", "attach": "", "time_expire": None,
                "mchid": self.wechat.keys.mchid, "appid": self.wechat.keys.appid,
                "trade_state": "SUCCESS", "prepay_id": "wxmix" + order.mix_trade_no,
                "created_at": now, "success_time": now, "refundable": order.cash_fen,
                "transaction_id": "42000" + secrets.token_hex(8)}}, upsert=True)
        if order.insurance_outcome == "success":
            order.status = 4
            order.med_ins_pay_status = "MED_INS_PAY_SUCCESS"
            order.mix_pay_status = "MIX_PAY_SUCCESS"
            order.settled_on = local(now).date().isoformat()
        elif order.insurance_outcome == "fail":
            order.status = 14
            order.med_ins_pay_status = "MED_INS_PAY_FAIL"
            order.mix_pay_status = "MIX_PAY_FAIL"
        else:                                  # "hang": the insurance leg never answers
            order.status = 1
        return {"mix_trade_no": order.mix_trade_no, "out_trade_no": order.out_trade_no,
                "mix_pay_status": order.mix_pay_status}

    async def pay_and_notify(self, mix_trade_no: str) -> dict[str, Any]:
        """The cashier's 支付: pay, then send WeChat's signed notice to the order's callback."""
        notice = await self.pay(mix_trade_no)
        order = self.order_by_mix(mix_trade_no)
        if order.callback_url:
            self.wechat._spawn(self.wechat.deliver(order.callback_url, "MEDICAL_INSURANCE.SUCCESS",
                                                   "mix_trade", "医保支付结果", notice))
        return notice
