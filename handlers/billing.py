"""Billing API: HIS bills, patients' bills and payments, WeChat Pay callbacks, finance admin."""

from __future__ import annotations

from handlers.auth import PATIENT, device, staff
from handlers.base import PUBLIC, ApiHandler, api
from services.billing.models import (
    BillOut,
    BillStatus,
    FlagOut,
    HisBillIn,
    PayIn,
    PaymentOut,
    PayOut,
    ReceiptOut,
    ReconcileIn,
    ReconciliationOut,
    RefundIn,
    RefundOut,
)
from services.models import ApiModel

FINANCE = staff("finance", "admin")


class BillQuery(ApiModel):
    patient_id: str | None = None
    status: BillStatus | None = None


class HisBillHandler(ApiHandler):
    @api(auth=device("his"), body=HisBillIn, response=BillOut, status=201, errors=(409, 422),
         summary="HIS 推送账单（按 his_bill_id 幂等）", tags=("billing",))
    async def post(self, body: HisBillIn):
        """Accept a bill from the HIS; the same bill again answers 200 with the stored one."""
        bill, created = await self.services.billing.create_his_bill(body, self.actor)
        if not created:
            self.send_json(bill, 200)
        return bill


class BillListHandler(ApiHandler):
    @api(auth=PATIENT, query=BillQuery, response=list[BillOut], summary="我的账单",
         tags=("billing",))
    async def get(self, query: BillQuery):
        """Bills of one family member (patient_id) or of the whole family, by status."""
        return await self.services.billing.list_bills(self.actor.id, query.patient_id, query.status)


class BillHandler(ApiHandler):
    @api(auth=PATIENT, response=BillOut, summary="账单详情", tags=("billing",))
    async def get(self, bill_id: str):
        """One bill with items and insurance split (own family only)."""
        return await self.services.billing.get_bill(self.actor.id, bill_id)


class BillReceiptHandler(ApiHandler):
    @api(auth=PATIENT, response=ReceiptOut, summary="电子票据", tags=("billing",))
    async def get(self, bill_id: str):
        """The 电子票据 of a paid bill."""
        return await self.services.billing.receipt_for_bill(bill_id, self.actor.id)


class BillPayHandler(ApiHandler):
    @api(auth=PATIENT, body=PayIn, response=PayOut, errors=(409, 422),
         summary="发起支付（JSAPI 参数 / 沙箱收银台）", tags=("billing",))
    async def post(self, bill_id: str, body: PayIn):
        """Create a payment order for the bill; amount and description come from the bill."""
        return await self.services.billing.pay(self.actor.id, bill_id, body.channel)


class PaymentHandler(ApiHandler):
    @api(auth=PATIENT, response=PaymentOut, summary="支付结果（必要时向渠道查询）",
         tags=("billing",))
    async def get(self, payment_id: str):
        """A payment's state; while pending the channel is asked."""
        return await self.services.billing.get_payment(self.actor.id, payment_id)


class TransactionCallbackHandler(ApiHandler):
    def check_xsrf_cookie(self) -> None:   # server-to-server, verified by signature
        return

    @api(auth=PUBLIC, status=204, errors=(401,), summary="微信支付 支付通知", tags=("callbacks",))
    async def post(self):
        """Verify (signature, 5-minute window, nonce, AEAD) and settle; 401 when anything is off."""
        await self.services.billing.handle_callback("transactions", self.request.headers,
                                                    self.request.body or b"")


class RefundCallbackHandler(ApiHandler):
    def check_xsrf_cookie(self) -> None:
        return

    @api(auth=PUBLIC, status=204, errors=(401,), summary="微信支付 退款通知", tags=("callbacks",))
    async def post(self):
        """Verify and apply a refund result; 401 when anything is off."""
        await self.services.billing.handle_callback("refunds", self.request.headers,
                                                    self.request.body or b"")


class AdminBillHandler(ApiHandler):
    @api(auth=FINANCE, response=BillOut, summary="账单（财务）", tags=("billing-admin",))
    async def get(self, bill_id: str):
        """Any bill, for finance (audited)."""
        return await self.services.billing.bill_for_staff(self.actor, bill_id)


class AdminRefundsHandler(ApiHandler):
    @api(auth=FINANCE, response=list[RefundOut], summary="账单的退款", tags=("billing-admin",))
    async def get(self, bill_id: str):
        """Refunds of a bill and their states."""
        return await self.services.billing.list_refunds(bill_id)

    @api(auth=staff("finance"), body=RefundIn, response=RefundOut, status=201, errors=(409, 422),
         summary="退款（全额或部分）", tags=("billing-admin",))
    async def post(self, bill_id: str, body: RefundIn):
        """Refund part or all of a paid bill; never more than was paid."""
        return await self.services.billing.refund(bill_id, body.amount_fen, body.reason,
                                                   self.actor)


class AdminReconciliationsHandler(ApiHandler):
    @api(auth=FINANCE, response=list[ReconciliationOut], summary="对账报告",
         tags=("billing-admin",))
    async def get(self):
        """The latest daily reconciliation reports."""
        return await self.services.billing.list_reconciliations()

    @api(auth=FINANCE, body=ReconcileIn, response=ReconciliationOut, errors=(422,),
         summary="立即对账某日", tags=("billing-admin",))
    async def post(self, body: ReconcileIn):
        """Reconcile one day now (downloads the channel's trade bill)."""
        return await self.services.billing.reconcile_day(body.date, body.channel)


class AdminFlagsHandler(ApiHandler):
    @api(auth=FINANCE, response=list[FlagOut], summary="待财务处理的异常支付",
         tags=("billing-admin",))
    async def get(self):
        """Mismatched, duplicate and unknown payments flagged for finance."""
        return await self.services.billing.list_flags()


class KioskReceiptHandler(ApiHandler):
    @api(auth=device("kiosk"), response=ReceiptOut, summary="打印电子票据（自助机）",
         tags=("billing",), errors=(404, 422),
         description="Needs the X-Kiosk-Session header; only the session patient's paid bills.")
    async def get(self, bill_id: str):
        """The receipt of the kiosk session patient's paid bill (audited)."""
        return await self.services.kiosk.receipt_for_session(
            self.actor, self.request.headers.get("X-Kiosk-Session"), bill_id)


routes = [
    (r"/api/v1/his/bills", HisBillHandler),
    (r"/api/v1/bills", BillListHandler),
    (r"/api/v1/bills/(?P<bill_id>[^/]+)", BillHandler),
    (r"/api/v1/bills/(?P<bill_id>[^/]+)/receipt", BillReceiptHandler),
    (r"/api/v1/bills/(?P<bill_id>[^/]+)/pay", BillPayHandler),
    (r"/api/v1/payments/(?P<payment_id>[^/]+)", PaymentHandler),
    (r"/callbacks/wechatpay/transactions", TransactionCallbackHandler),
    (r"/callbacks/wechatpay/refunds", RefundCallbackHandler),
    (r"/api/v1/admin/bills/(?P<bill_id>[^/]+)", AdminBillHandler),
    (r"/api/v1/admin/bills/(?P<bill_id>[^/]+)/refunds", AdminRefundsHandler),
    (r"/api/v1/admin/reconciliations", AdminReconciliationsHandler),
    (r"/api/v1/admin/billing/flags", AdminFlagsHandler),
    (r"/api/v1/kiosk/bills/(?P<bill_id>[^/]+)/receipt", KioskReceiptHandler),
]
