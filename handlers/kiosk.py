"""Kiosk (自助机) API and page.

Every API call is a signed device request (`device("kiosk")`). After the patient scans
their visit code (or swipes a hospital card), the kiosk holds a short session token and
sends it as `X-Kiosk-Session`; without it the kiosk can list nobody.

How the page authenticates: the kiosk browser keeps the device's key id and secret in
its local storage (entered once by staff on the setup screen of /kiosk, or provisioned
with the kiosk image) and signs each API request in JavaScript with WebCrypto HMAC-SHA256,
exactly as services/identity/devices.py verifies it. WebCrypto needs a secure context:
HTTPS in production, http://127.0.0.1 / localhost in development.
"""

from __future__ import annotations

from handlers.auth import device
from handlers.base import ApiHandler, PageHandler, api
from services.kiosk import (
    KioskOpenIn, KioskPrintIn, KioskReceiptOut, KioskReceiptPrintIn, KioskSessionOut,
)
from services.reports.models import ReportSummary

SESSION_HEADER = "X-Kiosk-Session"


class KioskSessionListHandler(ApiHandler):
    @api(auth=device("kiosk"), body=KioskOpenIn, response=KioskSessionOut, status=201,
         tags=("kiosk",), errors=(401, 403, 422, 429),
         summary="扫就诊码或刷卡，为一位患者开启自助机会话（约 3 分钟）")
    async def post(self, body: KioskOpenIn):
        """Open a short kiosk session for the patient behind a visit code or card."""
        return await self.services.kiosk.open_session(self.actor, body, ip=self.client_ip,
                                                      request_id=self.request_id)


class KioskSessionHandler(ApiHandler):
    @api(auth=device("kiosk"), status=204, tags=("kiosk",), errors=(401, 403),
         summary="结束自助机会话（退出或超时）")
    async def delete(self):
        """End the current kiosk session."""
        await self.services.kiosk.close(self.actor, self.request.headers.get(SESSION_HEADER))


class KioskReportListHandler(ApiHandler):
    @api(auth=device("kiosk"), response=list[ReportSummary], tags=("kiosk",),
         errors=(401, 403, 422), summary="本次会话患者的可打印报告",
         description="Needs the X-Kiosk-Session header from POST /api/v1/kiosk/sessions.")
    async def get(self):
        """Printable reports of the session's patient (audited)."""
        return await self.services.kiosk.list_reports(
            self.actor, self.request.headers.get(SESSION_HEADER), ip=self.client_ip,
            request_id=self.request_id)


class KioskPrintHandler(ApiHandler):
    @api(auth=device("kiosk"), body=KioskPrintIn, content_type="application/pdf",
         tags=("kiosk",), errors=(401, 403, 422), summary="打印报告（返回 A4 PDF，记录打印次数）",
         description="Needs the X-Kiosk-Session header. The response header X-Print-Count "
                     "tells how many times this report has been printed.")
    async def post(self, body: KioskPrintIn):
        """Record one print and return the report as a PDF."""
        pdf, count = await self.services.kiosk.print_report(
            self.actor, self.request.headers.get(SESSION_HEADER), body.report_id,
            ip=self.client_ip, request_id=self.request_id)
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", 'inline; filename="report.pdf"')
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Print-Count", str(count))
        self.finish(pdf)


class KioskReceiptListHandler(ApiHandler):
    @api(auth=device("kiosk"), response=list[KioskReceiptOut], tags=("kiosk",),
         errors=(401, 403, 422), summary="本次会话患者的缴费票据",
         description="Needs the X-Kiosk-Session header.")
    async def get(self):
        """Paid receipts of the session's patient (audited)."""
        return await self.services.kiosk.list_receipts(
            self.actor, self.request.headers.get(SESSION_HEADER), ip=self.client_ip,
            request_id=self.request_id)


class KioskReceiptPrintHandler(ApiHandler):
    @api(auth=device("kiosk"), body=KioskReceiptPrintIn, content_type="application/pdf",
         tags=("kiosk",), errors=(401, 403, 422), summary="打印缴费票据（A4 PDF）",
         description="Needs the X-Kiosk-Session header; only the session patient's paid bills.")
    async def post(self, body: KioskReceiptPrintIn):
        """The session patient's receipt as a PDF (the read is audited by billing)."""
        pdf = await self.services.kiosk.print_receipt(
            self.actor, self.request.headers.get(SESSION_HEADER), body.bill_id)
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", 'inline; filename="receipt.pdf"')
        self.set_header("Cache-Control", "no-store")
        self.finish(pdf)


class KioskPageHandler(PageHandler):
    def set_default_headers(self) -> None:
        super().set_default_headers()
        # the printed PDF is shown in a frame from a blob: URL, then printed
        csp = self._headers.get("Content-Security-Policy", "").replace(
            "object-src 'none'", "object-src 'self' blob:")
        self.set_header("Content-Security-Policy", csp + "; frame-src 'self' blob:")

    async def get(self):
        """The kiosk screen: scan, list, print; back to the start after idling."""
        config = self.services.kiosk.config
        self.render("kiosk/index.html", page_title="自助打印",
                    idle_seconds=config.idle_logout_seconds, print_dialog=config.print_dialog)


routes = [
    (r"/api/v1/kiosk/sessions", KioskSessionListHandler),
    (r"/api/v1/kiosk/sessions/current", KioskSessionHandler),
    (r"/api/v1/kiosk/reports", KioskReportListHandler),
    (r"/api/v1/kiosk/print", KioskPrintHandler),
    (r"/api/v1/kiosk/receipts", KioskReceiptListHandler),
    (r"/api/v1/kiosk/receipts/print", KioskReceiptPrintHandler),
    (r"/kiosk/?", KioskPageHandler),
]
