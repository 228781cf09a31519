"""医保 mobile payment API: the patient pays a bill by 医保 + 自费, sees the result and the
refund; finance refunds and reconciles; WeChat's med-ins notices come back here."""

from __future__ import annotations

from handlers.auth import PATIENT, staff
from handlers.base import PUBLIC, ApiHandler, api
from services.billing.medins_models import (
    MedInsOrderOut,
    MedInsPayIn,
    MedInsPayOut,
    MedInsReconcileIn,
    MedInsReconciliationOut,
    MedInsRefundIn,
    MedInsRefundOut,
)
from services.billing.medins_service import MedInsService
from services.errors import BusinessRuleViolation

FINANCE = staff("finance", "admin")


class MedInsHandler(ApiHandler):
    @property
    def medins(self) -> MedInsService:
        service = self.services.medins
        if service is None:
            raise BusinessRuleViolation("medins_not_available", "本院暂未开通医保移动支付")
        return service


class MedInsPayHandler(MedInsHandler):
    @api(auth=PATIENT, body=MedInsPayIn, response=MedInsPayOut, errors=(409, 422, 503),
         summary="医保移动支付：发起（医保 + 自费一单）", tags=("medins",))
    async def post(self, bill_id: str, body: MedInsPayIn):
        """6201 fee upload and WeChat's mixed order for the bill; amounts from the platform."""
        return await self.medins.pay(self.actor.id, bill_id, body.pay_auth_no)


class MedInsOrderHandler(MedInsHandler):
    @api(auth=PATIENT, response=MedInsOrderOut, summary="医保支付结果（必要时查询两侧）",
         tags=("medins",))
    async def get(self, order_id: str):
        """The order's state; while open, WeChat and the 医保 platform are asked."""
        return await self.medins.get_order(self.actor.id, order_id)


class MedInsRefundHandler(MedInsHandler):
    @api(auth=PATIENT, response=MedInsRefundOut, summary="医保账单退费进度", tags=("medins",))
    async def get(self, bill_id: str):
        """One refund status with its insurance and cash parts."""
        return await self.medins.refund_status(self.actor.id, bill_id)


class AdminMedInsRefundHandler(MedInsHandler):
    @api(auth=staff("finance"), body=MedInsRefundIn, response=MedInsRefundOut, status=201,
         errors=(409, 422), summary="医保账单全额退费（6203 + 微信退款）", tags=("medins-admin",))
    async def post(self, bill_id: str, body: MedInsRefundIn):
        """Refund a 医保-paid bill in full, both parts."""
        return await self.medins.refund(bill_id, body.reason, self.actor)


class AdminMedInsReconcileHandler(MedInsHandler):
    @api(auth=FINANCE, body=MedInsReconcileIn, response=MedInsReconciliationOut, errors=(422,),
         summary="医保对账（微信账单 + 医保结算单）", tags=("medins-admin",))
    async def post(self, body: MedInsReconcileIn):
        """Reconcile one day's 医保 orders on both sides now."""
        return await self.medins.reconcile_day(body.date)


class MedInsCallbackHandler(MedInsHandler):
    def check_xsrf_cookie(self) -> None:   # server-to-server, verified by signature
        return

    @api(auth=PUBLIC, status=204, errors=(401,), summary="微信医保支付 通知", tags=("callbacks",))
    async def post(self):
        """Verify like every APIv3 callback; then both sides are asked again."""
        await self.medins.handle_callback(self.request.headers, self.request.body or b"")


class MedInsRefundCallbackHandler(MedInsHandler):
    def check_xsrf_cookie(self) -> None:
        return

    @api(auth=PUBLIC, status=204, errors=(401,), summary="微信支付 退款通知（医保订单自费部分）",
         tags=("callbacks",))
    async def post(self):
        """Verify and move the refund of a 医保 order's cash leg on."""
        await self.medins.handle_refund_callback(self.request.headers, self.request.body or b"")


routes = [
    (r"/api/v1/bills/(?P<bill_id>[^/]+)/medins-pay", MedInsPayHandler),
    (r"/api/v1/bills/(?P<bill_id>[^/]+)/medins-refund", MedInsRefundHandler),
    (r"/api/v1/medins-orders/(?P<order_id>[^/]+)", MedInsOrderHandler),
    (r"/api/v1/admin/bills/(?P<bill_id>[^/]+)/medins-refund", AdminMedInsRefundHandler),
    (r"/api/v1/admin/medins/reconciliations", AdminMedInsReconcileHandler),
    (r"/callbacks/wechatpay/med-ins", MedInsCallbackHandler),
    (r"/callbacks/wechatpay/med-ins-refunds", MedInsRefundCallbackHandler),
]
