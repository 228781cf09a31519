"""Decoction pages: the pharmacist station, bag labels, statistics (staff; data comes from
the API with the staff Bearer token kept in sessionStorage) and the patients' progress pages."""

from __future__ import annotations

from handlers.base import PageHandler
from handlers.identity_pages import PatientPage
from services.pharmacy.stages import ACTION_LABELS, STAGE_LABELS


class StationPageHandler(PageHandler):
    async def get(self):
        """The pharmacist station, built for a USB barcode scanner (types the code + Enter)."""
        self.render("pharmacy/station.html", page_title="中药代煎工作站", stages=STAGE_LABELS,
                    actions=ACTION_LABELS)


class LabelPageHandler(PageHandler):
    async def get(self, prescription_id: str):
        """A printable bag label (QR code, masked name, herbs and their special handling)."""
        self.render("pharmacy/label.html", page_title="药袋标签", prescription_id=prescription_id)


class StatsPageHandler(PageHandler):
    async def get(self):
        """Decoction statistics for supervisors: time per stage, bags per day, overdue bags."""
        self.render("pharmacy/stats.html", page_title="代煎统计")


class ProgressPageHandler(PageHandler):
    async def get(self, token: str):
        """Public progress behind the bag's QR or a message link (bad or expired → 404 page)."""
        progress = await self.services.pharmacy.public_progress(token)
        self.set_header("Cache-Control", "no-store")
        self.render("h5/decoction_progress.html", page_title="代煎进度", p=progress, token=token)


class PatientListPageHandler(PatientPage):
    async def get(self):
        """A logged-in patient's TCM prescriptions, per family member (else the login page)."""
        members = await self.services.pharmacy.prescriptions_by_member(self.account_id)
        self.render("h5/decoction_list.html", page_title="中药代煎", members=members)


routes = [
    (r"/pharmacy/station", StationPageHandler),
    (r"/pharmacy/prescriptions/(?P<prescription_id>[0-9a-f]{24})/label", LabelPageHandler),
    (r"/admin/pharmacy/stats", StatsPageHandler),
    (r"/h5/decoction", PatientListPageHandler),
    (r"/h5/decoction/(?P<token>[^/]+)", ProgressPageHandler),
]
