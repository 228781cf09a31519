"""The 医保 sandbox's HTTP face: the 移动支付中心 under /mpc and WeChat's /v3/med-ins/orders.

A small Tornado application of its own (`sandbox_medins_app`), started by tests and demos on
a loopback port; WeChat-side answers are signed by the APIv3 sandbox's keys, errors are
WeChat's `{"code","message"}`, never the app's error shape.
"""

from __future__ import annotations

import json

import tornado.web

from handlers.base import PageHandler
from services.clock import format_local
from services.payment.medins_sandbox import SandboxMedIns
from services.payment.sandbox import SandboxError


class _SandboxHandler(tornado.web.RequestHandler):
    def initialize(self, sandbox: SandboxMedIns | None = None) -> None:
        # standalone (tests) it is given; mounted in the app it is the services' one
        self.sandbox = sandbox or self.application.settings["services"].medins_sandbox
        if self.sandbox is None:
            raise tornado.web.HTTPError(404)

    def check_xsrf_cookie(self) -> None:  # server-to-server
        return

    def _json_body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise SandboxError(400, "PARAM_ERROR", "请求体不是有效的 JSON") from None
        if not isinstance(data, dict):
            raise SandboxError(400, "PARAM_ERROR", "请求体应为对象")
        return data


class CenterHandler(_SandboxHandler):
    async def post(self, infno: str):
        """One 移动支付中心 interface message (6201, 6301, 6401, 6203, statement)."""
        try:
            envelope = self._json_body()
        except SandboxError as error:
            self.finish({"code": error.code, "message": error.message})
            return
        answer = await self.sandbox.center(infno, self.request.body,
                                           self.request.headers.get("X-Medins-Signature", ""),
                                           envelope)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(answer, ensure_ascii=False))


class _WechatHandler(_SandboxHandler):
    async def run(self, action) -> None:
        wechat = self.sandbox.wechat
        body = self.request.body or b""
        try:
            wechat.authenticate(self.request.method or "GET", self.request.uri or "",
                                self.request.headers.get("Authorization", ""), body)
            result = await action()
        except SandboxError as error:
            self.set_status(error.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"code": error.code, "message": error.message},
                                   ensure_ascii=False))
            return
        raw = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
        for name, value in wechat.signed_headers(raw).items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish(raw)


class MixOrderListHandler(_WechatHandler):
    async def post(self):
        """POST /v3/med-ins/orders."""
        await self.run(lambda: self.sandbox.create_mix_order(self._json_body()))


class MixOrderHandler(_WechatHandler):
    async def get(self, mix_trade_no: str):
        """GET /v3/med-ins/orders/mix-trade-no/{mix_trade_no}."""
        async def query():
            return self.sandbox.mix_order(self.sandbox.order_by_mix(mix_trade_no))
        await self.run(query)


def _safe_return(handler: tornado.web.RequestHandler) -> str:
    back = handler.get_query_argument("return", "/h5/")
    return back if back.startswith("/") and not back.startswith("//") else "/h5/"


class CashierPageHandler(PageHandler):
    async def get(self, mix_trade_no: str):
        """The sandbox's stand-in for WeChat's 医保 payment sheet: the split and 支付."""
        sandbox = self.services.medins_sandbox
        try:
            order = sandbox.order_by_mix(mix_trade_no) if sandbox else None
        except SandboxError:
            order = None
        if order is None:
            raise tornado.web.HTTPError(404)
        self.render("sandbox/medins_cashier.html", order=order, back=_safe_return(self),
                    now=format_local(self.services.clock.now()), page_title="医保支付（沙箱）")


class CashierPayHandler(_SandboxHandler):
    async def post(self, mix_trade_no: str):
        """支付: both legs by the chosen outcome, the notice sent; back to our result page."""
        try:
            await self.sandbox.pay_and_notify(mix_trade_no)
        except SandboxError:
            raise tornado.web.HTTPError(404) from None
        self.redirect(_safe_return(self))


routes = [
    (r"/sandbox/medins/cashier/([A-Z0-9]+)", CashierPageHandler),
    (r"/sandbox/medins/cashier/([A-Z0-9]+)/pay", CashierPayHandler),
    (r"/sandbox/medins/mpc/([0-9a-z]+)", CenterHandler),
    (r"/sandbox/medins/wx/v3/med-ins/orders", MixOrderListHandler),
    (r"/sandbox/medins/wx/v3/med-ins/orders/mix-trade-no/([A-Z0-9]+)", MixOrderHandler),
]


def sandbox_medins_app(sandbox: SandboxMedIns) -> tornado.web.Application:
    kwargs = {"sandbox": sandbox}
    return tornado.web.Application([
        (r"/mpc/([0-9a-z]+)", CenterHandler, kwargs),
        (r"/wx/v3/med-ins/orders", MixOrderListHandler, kwargs),
        (r"/wx/v3/med-ins/orders/mix-trade-no/([A-Z0-9]+)", MixOrderHandler, kwargs),
    ])
