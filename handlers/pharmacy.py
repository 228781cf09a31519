"""TCM decoction (中药代煎) API: HIS intake, the pharmacist station, patients' views."""

from __future__ import annotations

from pydantic import Field

from handlers.auth import PATIENT, device, staff
from handlers.base import PUBLIC, ApiHandler, api
from services.models import ApiModel
from services.pharmacy.models import (
    AdvanceIn, BatchAdvanceIn, BatchOut, IntakeOut, LabelOut, PatientPrescriptionOut, PrescriptionIn,
    PrescriptionOut, ProgressOut, QueueItemOut, QueueOut, ScanIn, StatsOut, UndoIn,
)

STATION = staff("pharmacist", "pharmacy_supervisor", "admin")
SUPERVISOR = staff("pharmacy_supervisor", "admin")
TAGS = ("pharmacy",)


class PatientQuery(ApiModel):
    patient_id: str = Field(min_length=1, max_length=64)


class StatsQuery(ApiModel):
    days: int | None = Field(default=None, ge=1, le=90)


class HisPrescriptionHandler(ApiHandler):
    @api(auth=device("his"), body=PrescriptionIn, response=IntakeOut, errors=(409, 422),
         summary="HIS 推送中药处方（按处方号幂等）", tags=TAGS)
    async def post(self, body: PrescriptionIn):
        """Receive a TCM prescription from the HIS; the same one again (created=false) changes nothing."""
        return await self.services.pharmacy.receive_prescription(self.actor, body, ip=self.client_ip)


class ScanHandler(ApiHandler):
    @api(auth=STATION, body=ScanIn, response=PrescriptionOut, errors=(404, 422),
         summary="扫码查看药袋", tags=TAGS)
    async def post(self, body: ScanIn):
        """A scanned label (or typed prescription number) → the bag, its stage, the next action."""
        return await self.services.pharmacy.scan(self.actor, body.code, ip=self.client_ip)


class PrescriptionHandler(ApiHandler):
    @api(auth=STATION, response=PrescriptionOut, errors=(404,), summary="处方详情", tags=TAGS)
    async def get(self, prescription_id: str):
        """One prescription with every step taken."""
        return await self.services.pharmacy.get_prescription(self.actor, prescription_id,
                                                             ip=self.client_ip)


class AdvanceHandler(ApiHandler):
    @api(auth=STATION, body=AdvanceIn, response=PrescriptionOut, errors=(404, 409, 422),
         summary="推进到下一环节", tags=TAGS)
    async def post(self, prescription_id: str, body: AdvanceIn):
        """Move the bag one step forward (409 invalid_transition otherwise)."""
        return await self.services.pharmacy.advance(self.actor, prescription_id, body,
                                                    ip=self.client_ip)


class BatchAdvanceHandler(ApiHandler):
    @api(auth=STATION, body=BatchAdvanceIn, response=BatchOut, summary="批量推进", tags=TAGS)
    async def post(self, body: BatchAdvanceIn):
        """Advance many bags to the same stage; each succeeds or fails on its own."""
        return await self.services.pharmacy.batch_advance(self.actor, body, ip=self.client_ip)


class UndoHandler(ApiHandler):
    @api(auth=SUPERVISOR, body=UndoIn, response=PrescriptionOut, errors=(404, 409, 422),
         summary="撤销上一步（主管）", tags=TAGS)
    async def post(self, prescription_id: str, body: UndoIn):
        """A supervisor takes back the bag's last step, with a reason (audited)."""
        return await self.services.pharmacy.undo_last_step(
            self.actor, prescription_id, body.reason, body.station, ip=self.client_ip)


class QueueListHandler(ApiHandler):
    @api(auth=STATION, response=list[QueueOut], summary="各环节工作队列", tags=TAGS)
    async def get(self):
        """Bags waiting in each stage, longest-waiting first."""
        return await self.services.pharmacy.work_queues(self.actor, ip=self.client_ip)


class OverdueListHandler(ApiHandler):
    @api(auth=STATION, response=list[QueueItemOut], summary="超时药袋", tags=TAGS)
    async def get(self):
        """Bags over their stage's time limit, most overdue first."""
        return await self.services.pharmacy.overdue(self.actor, ip=self.client_ip)


class LabelHandler(ApiHandler):
    @api(auth=STATION, response=LabelOut, errors=(404,), summary="药袋标签", tags=TAGS)
    async def get(self, prescription_id: str):
        """The printable bag label's data, with the QR code as a data: URL."""
        return await self.services.pharmacy.label(self.actor, prescription_id, ip=self.client_ip)


class LabelPngHandler(ApiHandler):
    @api(auth=STATION, content_type="image/png", errors=(404,), summary="药袋二维码 PNG", tags=TAGS)
    async def get(self, prescription_id: str):
        """The bag label's QR code as a PNG image."""
        png = await self.services.pharmacy.label_png(self.actor, prescription_id, ip=self.client_ip)
        self.set_header("Content-Type", "image/png")
        self.set_header("Cache-Control", "no-store")
        self.finish(png)


class StatsHandler(ApiHandler):
    @api(auth=SUPERVISOR, query=StatsQuery, response=StatsOut, summary="代煎统计", tags=TAGS)
    async def get(self, query: StatsQuery):
        """Time in each stage (average, P90), bags per day, overdue bags."""
        return await self.services.pharmacy.statistics(query.days)


class StatsChartHandler(ApiHandler):
    @api(auth=SUPERVISOR, query=StatsQuery, content_type="image/svg+xml", summary="代煎统计图 SVG",
         tags=TAGS)
    async def get(self, query: StatsQuery):
        """The statistics as a server-rendered SVG chart."""
        svg = await self.services.pharmacy.statistics_svg(query.days)
        self.set_header("Content-Type", "image/svg+xml; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(svg)


class PatientPrescriptionListHandler(ApiHandler):
    @api(auth=PATIENT, query=PatientQuery, response=list[PatientPrescriptionOut], errors=(404,),
         summary="我的中药处方", tags=TAGS)
    async def get(self, query: PatientQuery):
        """A family member's TCM prescriptions with their stage (another account's → 404)."""
        return await self.services.pharmacy.list_for_patient(self.actor.id, query.patient_id)


class ProgressHandler(ApiHandler):
    @api(auth=PUBLIC, response=ProgressOut, errors=(404,), summary="代煎进度（凭签名链接）", tags=TAGS)
    async def get(self, token: str):
        """The public progress behind a signed link: stage timeline, estimate, masked name."""
        return await self.services.pharmacy.public_progress(token)


routes = [
    (r"/api/v1/his/prescriptions", HisPrescriptionHandler),
    (r"/api/v1/pharmacy/scan", ScanHandler),
    (r"/api/v1/pharmacy/batch-advance", BatchAdvanceHandler),
    (r"/api/v1/pharmacy/queues", QueueListHandler),
    (r"/api/v1/pharmacy/overdue", OverdueListHandler),
    (r"/api/v1/pharmacy/stats", StatsHandler),
    (r"/api/v1/pharmacy/stats/chart", StatsChartHandler),
    (r"/api/v1/pharmacy/prescriptions/(?P<prescription_id>[^/]+)", PrescriptionHandler),
    (r"/api/v1/pharmacy/prescriptions/(?P<prescription_id>[^/]+)/advance", AdvanceHandler),
    (r"/api/v1/pharmacy/prescriptions/(?P<prescription_id>[^/]+)/undo", UndoHandler),
    (r"/api/v1/pharmacy/prescriptions/(?P<prescription_id>[^/]+)/label", LabelHandler),
    (r"/api/v1/pharmacy/prescriptions/(?P<prescription_id>[^/]+)/qr", LabelPngHandler),
    (r"/api/v1/prescriptions", PatientPrescriptionListHandler),
    (r"/api/v1/decoction/(?P<token>[^/]+)", ProgressHandler),
]
