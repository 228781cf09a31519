"""H5 pages of billing: unpaid bills, history, bill detail and pay, payment result;
and the finance reconciliation page."""

from __future__ import annotations

import tornado.web

from handlers.base import PageHandler
from handlers.identity_pages import PatientPage
from services.billing.models import yuan
from services.clock import format_local

STATUS_LABELS = {"unpaid": "待缴费", "paid": "已缴费", "partially_refunded": "部分退款",
                 "refunded": "已退款", "expired": "已失效", "cancelled": "已作废"}
PAID_STATUSES = ("paid", "partially_refunded", "refunded")


class BillingPage(PatientPage):
    """A patient page (signed in through identity's PatientPage, else sent to log in)."""

    def get_template_namespace(self):
        namespace = super().get_template_namespace()
        namespace.update(yuan=yuan, local=format_local, status_label=STATUS_LABELS)
        return namespace


class BillsPageHandler(BillingPage):
    async def get(self):
        """待缴费: the family's unpaid bills."""
        account = self.account_id
        bills = await self.services.billing.list_bills(account, status="unpaid")
        self.render("billing/bills.html", bills=bills, history=False, page_title="门诊缴费")


class BillHistoryPageHandler(BillingPage):
    async def get(self):
        """缴费记录: paid (and refunded) bills."""
        account = self.account_id
        bills = [b for b in await self.services.billing.list_bills(account)
                 if b.status in PAID_STATUSES]
        self.render("billing/bills.html", bills=bills, history=True, page_title="缴费记录")


class BillPageHandler(BillingPage):
    async def get(self, bill_id: str):
        """One bill: items, insurance split, pay button or receipt."""
        account = self.account_id
        bill = await self.services.billing.get_bill(account, bill_id)
        receipt = None
        if bill.receipt_no:
            receipt = await self.services.billing.receipt_for_bill(bill_id, account)
        self.render("billing/bill.html", bill=bill, receipt=receipt, page_title="账单详情",
                    channel=self.services.billing.config.default_channel,
                    medins=self.services.medins is not None,
                    medins_sandbox=self.services.medins_sandbox is not None)


MEDINS_STATE_LABELS = {"paid": "支付成功", "reversed": "医保结算未完成，已撤销，自费部分原路退回",
                       "failed": "医保支付未完成，可返回账单重新支付"}


class MedInsOrderPageHandler(BillingPage):
    async def get(self, order_id: str):
        """The 医保 result page: the split, and the state polled until it is decided."""
        order = await self.services.medins.get_order(self.account_id, order_id) \
            if self.services.medins else None
        if order is None:
            raise tornado.web.HTTPError(404)
        self.render("billing/medins_order.html", order=order, page_title="医保支付结果",
                    state_label=MEDINS_STATE_LABELS.get(order.status, "正在确认医保与自费支付结果…"))


class PaymentPageHandler(BillingPage):
    async def get(self, payment_id: str):
        """The result page: polls the payment until it is paid or closed."""
        account = self.account_id
        payment = await self.services.billing.get_payment(account, payment_id)
        self.render("billing/payment.html", payment=payment, page_title="支付结果")


class ReconciliationPageHandler(PageHandler):
    async def get(self):
        """Finance: daily reconciliation reports (staff sign in on the page; data via the API)."""
        self.render("billing/reconciliation.html", page_title="对账报告")


routes = [
    (r"/h5/bills", BillsPageHandler),
    (r"/h5/bills/history", BillHistoryPageHandler),
    (r"/h5/bills/(?P<bill_id>[0-9a-f]{24})", BillPageHandler),
    (r"/h5/payments/(?P<payment_id>[0-9a-f]{24})", PaymentPageHandler),
    (r"/h5/medins/(?P<order_id>[0-9a-f]{24})", MedInsOrderPageHandler),
    (r"/admin/billing/reconciliation", ReconciliationPageHandler),
]


