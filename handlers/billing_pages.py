"""H5 pages of billing: unpaid bills, history, bill detail and pay, payment result;
and the finance reconciliation page."""

from __future__ import annotations

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
                    channel=self.services.billing.config.default_channel)


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
    (r"/admin/billing/reconciliation", ReconciliationPageHandler),
]


