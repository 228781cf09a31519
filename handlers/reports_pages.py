"""Report pages: the patient's list and detail (H5; signed-in patients, others are sent to
the login page and back), and the public verify page that the QR code on a printed report
opens."""

from __future__ import annotations

from itertools import groupby

from handlers.base import PageHandler
from handlers.identity_pages import PatientPage
from services.clock import format_local, local_date
from services.errors import DomainError

WEEKDAYS = "一二三四五六日"


def day_label(summary) -> str:
    moment = summary.reported_at or summary.collected_at
    if moment is None:
        return "日期未知"
    day = local_date(moment)
    return f"{day.year}年{day.month}月{day.day}日 星期{WEEKDAYS[day.weekday()]}"


def status_class(status: str) -> str:
    return {"pending": "warn", "final": "ok", "amended": "danger"}.get(status, "")


class ReportListPageHandler(PatientPage):
    async def get(self):
        """The family's reports grouped by day, newest first, with status badges."""
        reports = await self.services.reports.list_for_account(self.account_id, None)
        days = [(label, list(group)) for label, group in groupby(reports, key=day_label)]
        self.render("reports/list.html", days=days, page_title="报告查询",
                    format_local=format_local, status_class=status_class)


class ReportPageHandler(PatientPage):
    async def get(self, report_id: str):
        """One report, abnormal results first, in large type with words and colours."""
        report = await self.services.reports.get_for_account(self.account_id, report_id)
        self.render("reports/detail.html", report=report, page_title=report.title,
                    format_local=format_local, status_class=status_class)


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
