"""The sandbox WeChat Pay server's HTTP face (development only, under /sandbox/wechatpay).

Mounted in the same Tornado app by `server/routes.py` `dev_routes()`, so `make run`
starts it with nothing more to configure: the sandbox channel's base URL is
`<public_url>/sandbox/wechatpay`. Responses are WeChat's, not ours: signed JSON or
`{"code","message"}` errors, never the app's error shape.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from handlers.base import BaseHandler, PageHandler
from services.clock import format_local
from services.payment.sandbox import SandboxError, SandboxWechatPay


class SandboxApiHandler(BaseHandler):
    """Authenticates the merchant's signature and answers with signed JSON."""

    @property
    def sandbox(self) -> SandboxWechatPay:
        sandbox = self.services.wechatpay_sandbox
        if sandbox is None:
            raise tornado.web.HTTPError(404)
        return sandbox

    def check_xsrf_cookie(self) -> None:  # a server-to-server API
        return

    async def run(self, action: Any) -> None:
        body = self.request.body or b""
        try:
            self.sandbox.authenticate(self.request.method or "GET", self.request.uri or "",
                                      self.request.headers.get("Authorization", ""), body)
            result = await action(self._json(body))
        except SandboxError as error:
            self.set_status(error.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"code": error.code, "message": error.message},
                                   ensure_ascii=False))
            return
        if result is None:
            self._signed(204, b"")
        elif isinstance(result, bytes):
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(result)   # bill files are not signed (their SHA-1 is)
        else:
            self._signed(200, json.dumps(result, ensure_ascii=False,
                                         separators=(",", ":")).encode())

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        try:
            data = json.loads(body)
        except ValueError:
            raise SandboxError(400, "PARAM_ERROR", "请求体不是有效的 JSON") from None
        if not isinstance(data, dict):
            raise SandboxError(400, "PARAM_ERROR", "请求体应为对象")
        return data

    def _signed(self, status: int, body: bytes) -> None:
        self.set_status(status)
        for name, value in self.sandbox.signed_headers(body).items():
            self.set_header(name, value)
        if body:
            self.set_header("Content-Type", "application/json")
            self.finish(body)
        else:
            self.finish()


class SandboxJsapiHandler(SandboxApiHandler):
    async def post(self):
        """JSAPI 下单."""
        await self.run(self.sandbox.create_jsapi)


class SandboxOrderHandler(SandboxApiHandler):
    async def get(self, out_trade_no: str):
        """查询订单 by out_trade_no."""
        mchid = self.get_query_argument("mchid", "")
        await self.run(lambda _body: self.sandbox.query(out_trade_no, mchid))


class SandboxCloseHandler(SandboxApiHandler):
    async def post(self, out_trade_no: str):
        """关闭订单."""
        await self.run(lambda body: self.sandbox.close(out_trade_no, body))


class SandboxRefundHandler(SandboxApiHandler):
    async def post(self):
        """申请退款."""
        await self.run(self.sandbox.create_refund)


class SandboxRefundQueryHandler(SandboxApiHandler):
    async def get(self, out_refund_no: str):
        """查询单笔退款."""
        await self.run(lambda _body: self.sandbox.query_refund(out_refund_no))


class SandboxTradeBillHandler(SandboxApiHandler):
    async def get(self):
        """申请交易账单 → download_url + SHA-1."""
        bill_date = self.get_query_argument("bill_date", "")
        bill_type = self.get_query_argument("bill_type", "ALL")
        gz = self.get_query_argument("tar_type", "") == "GZIP"

        async def action(_body: dict[str, Any]) -> dict[str, str]:
            content = await self.sandbox.trade_bill(bill_date, bill_type)
            meta = self.sandbox.bill_download(bill_date, bill_type, content)
            if gz:
                meta["download_url"] += "&tar_type=GZIP"
            return meta
        await self.run(action)


class SandboxBillFileHandler(SandboxApiHandler):
    async def get(self):
        """下载账单文件 (not signed; checked by its SHA-1)."""
        bill_date, _, bill_type = self.get_query_argument("token", "").partition(".")
        gz = self.get_query_argument("tar_type", "") == "GZIP"

        async def action(_body: dict[str, Any]) -> bytes:
            content = await self.sandbox.trade_bill(bill_date, bill_type or "ALL")
            return self.sandbox.gzip(content) if gz else content
        await self.run(action)


class SandboxCertificatesHandler(SandboxApiHandler):
    async def get(self):
        """平台证书 (empty in 微信支付公钥 mode, the default)."""
        await self.run(self._certificates)

    async def _certificates(self, _body: dict[str, Any]) -> dict[str, Any]:
        return self.sandbox.certificates()


class SandboxCashierPageHandler(PageHandler):
    async def get(self, prepay_id: str):
        """The sandbox cashier: the developer taps 支付 or 取消."""
        sandbox = self.services.wechatpay_sandbox
        order = await sandbox.cashier_order(prepay_id) if sandbox else None
        if order is None:
            raise tornado.web.HTTPError(404)
        back = self.get_query_argument("return", "/h5/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/h5/"
        self.render("sandbox/cashier.html", order=order, prepay_id=prepay_id, back=back,
                    amount=f"¥{order['total'] / 100:.2f}",
                    created=format_local(order["created_at"]), page_title="微信支付（沙箱）")


class SandboxCashierActionHandler(BaseHandler):
    def check_xsrf_cookie(self) -> None:
        return

    async def post(self, prepay_id: str, action: str):
        """支付 (the order succeeds and its callback is sent) or 取消 (nothing happens)."""
        sandbox = self.services.wechatpay_sandbox
        order = await sandbox.cashier_order(prepay_id) if sandbox else None
        if order is None:
            raise tornado.web.HTTPError(404)
        paid = order["trade_state"] == "SUCCESS"
        if action == "pay" and not paid:
            paid = await sandbox.pay(prepay_id) is not None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"paid": paid, "action": action}))


PREFIX = r"/sandbox/wechatpay"
routes = [
    (PREFIX + r"/v3/pay/transactions/jsapi", SandboxJsapiHandler),
    (PREFIX + r"/v3/pay/transactions/out-trade-no/(?P<out_trade_no>[^/?]+)", SandboxOrderHandler),
    (PREFIX + r"/v3/pay/transactions/out-trade-no/(?P<out_trade_no>[^/?]+)/close",
     SandboxCloseHandler),
    (PREFIX + r"/v3/refund/domestic/refunds", SandboxRefundHandler),
    (PREFIX + r"/v3/refund/domestic/refunds/(?P<out_refund_no>[^/?]+)", SandboxRefundQueryHandler),
    (PREFIX + r"/v3/bill/tradebill", SandboxTradeBillHandler),
    (PREFIX + r"/v3/billdownload/file", SandboxBillFileHandler),
    (PREFIX + r"/v3/certificates", SandboxCertificatesHandler),
    (PREFIX + r"/cashier/(?P<prepay_id>[\w-]+)", SandboxCashierPageHandler),
    (PREFIX + r"/cashier/(?P<prepay_id>[\w-]+)/(?P<action>pay|cancel)", SandboxCashierActionHandler),
]
