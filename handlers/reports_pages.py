"""Report pages: the patient's list and detail (H5), and the public verify page that the
QR code on a printed report opens."""

from __future__ import annotations

from itertools import groupby

from handlers.auth import SESSION_COOKIE
from handlers.base import PageHandler
from services.clock import format_local, local_date
from services.errors import DomainError, Unauthorized

WEEKDAYS = "一二三四五六日"


def day_label(summary) -> str:
    moment = summary.reported_at or summary.collected_at
    if moment is None:
        return "日期未知"
    day = local_date(moment)
    return f"{day.year}年{day.month}月{day.day}日 星期{WEEKDAYS[day.weekday()]}"


def status_class(status: str) -> str:
    return {"pending": "warn", "final": "ok", "amended": "danger"}.get(status, "")


class ReportPageBase(PageHandler):
    async def account_id(self) -> str | None:
        """The logged-in patient account of the H5 cookie, if any."""
        token = self.get_cookie(SESSION_COOKIE)
        if not token:
            return None
        try:
            session = await self.services.identity.authenticate(token, "patient")
        except Unauthorized:
            return None
        return session["subject_id"]

    def get_template_namespace(self):
        namespace = super().get_template_namespace()
        namespace.update(format_local=format_local, status_class=status_class)
        return namespace


class ReportListPageHandler(ReportPageBase):
    async def get(self):
        """The family's reports grouped by day, newest first, with status badges."""
        account = await self.account_id()
        if account is None:
            self.render("reports/login_needed.html", page_title="报告查询")
            return
        reports = await self.services.reports.list_for_account(account, None)
        days = [(label, list(group)) for label, group in groupby(reports, key=day_label)]
        self.render("reports/list.html", days=days, page_title="报告查询")


class ReportPageHandler(ReportPageBase):
    async def get(self, report_id: str):
        """One report, abnormal results first, in large type with words and colours."""
        account = await self.account_id()
        if account is None:
            self.render("reports/login_needed.html", page_title="报告详情")
            return
        report = await self.services.reports.get_for_account(account, report_id)
        self.render("reports/detail.html", report=report, page_title=report.title)


class ReportVerifyPageHandler(PageHandler):
    async def get(self, token: str):
        """Public: is this printed report genuine? Only masked data is shown."""
        try:
            result = await self.services.reports.verify(token)
        except DomainError:
            result = None
            self.set_status(404)
        self.render("reports/verify.html", result=result, page_title="报告真伪验证")


routes = [
    (r"/h5/reports", ReportListPageHandler),
    (r"/h5/reports/verify/(?P<token>[^/]+)", ReportVerifyPageHandler),
    (r"/h5/reports/(?P<report_id>[^/]+)", ReportPageHandler),
]
