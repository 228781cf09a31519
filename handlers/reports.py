"""Reports API: the LIS/PACS pushes reports (JSON or FHIR R4), patients read their family's,
staff see how often a report was printed."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from handlers.auth import PATIENT, device, staff
from handlers.base import ApiHandler, api
from services.models import ApiModel
from services.reports.models import (
    HisReportIn,
    IngestResult,
    PrintHistoryOut,
    ReportOut,
    ReportSummary,
)


class ReportListQuery(ApiModel):
    patient_id: str | None = Field(default=None, max_length=40)


class HisReportListHandler(ApiHandler):
    @api(auth=device("his"), body=HisReportIn, response=IngestResult, tags=("reports",),
         errors=(401, 403, 409, 422), summary="LIS/PACS 推送报告（按来源报告号幂等）",
         description="Lab (检验) or exam (检查) report. Re-sending the same report is a no-op "
                     "(outcome=unchanged); status=amended with new content keeps the earlier "
                     "version and shows the latest with a note.")
    async def post(self, body: HisReportIn):
        """Store or update one report from the LIS/PACS."""
        return await self.services.reports.ingest(body)


class HisFhirReportHandler(ApiHandler):
    @api(auth=device("his"), response=list[IngestResult], tags=("reports",),
         errors=(401, 403, 409, 422), summary="推送 FHIR R4 Bundle（DiagnosticReport + Observation）",
         description="Body: a FHIR R4 Bundle (application/fhir+json or application/json).")
    async def post(self):
        """Map a FHIR R4 Bundle and store each DiagnosticReport in it."""
        return await self.services.reports.ingest_fhir(self.request.body or b"")


class HisFhirExportHandler(ApiHandler):
    @api(auth=device("his"), response=dict[str, Any], tags=("reports",), errors=(401, 403),
         summary="以 FHIR R4 Bundle 导出一份报告")
    async def get(self, report_id: str):
        """One stored report as a FHIR R4 Bundle (audited)."""
        return await self.services.reports.export_fhir(report_id, self.actor, ip=self.client_ip,
                                                       request_id=self.request_id)


class ReportListHandler(ApiHandler):
    @api(auth=PATIENT, query=ReportListQuery, response=list[ReportSummary], tags=("reports",),
         errors=(401, 403), summary="我的报告（某位就诊人，或全家）")
    async def get(self, query: ReportListQuery):
        """The reports of one family member, or of the whole family, newest first."""
        return await self.services.reports.list_for_account(self.actor.id, query.patient_id)


class ReportHandler(ApiHandler):
    @api(auth=PATIENT, response=ReportOut, tags=("reports",), errors=(401, 403),
         summary="报告详情（异常项在前）")
    async def get(self, report_id: str):
        """One report of the account's family; another account's report is a 404."""
        return await self.services.reports.get_for_account(self.actor.id, report_id)


class ReportPrintsHandler(ApiHandler):
    @api(auth=staff("admin", "doctor", "nurse"), response=PrintHistoryOut, tags=("reports",),
         errors=(401, 403), summary="报告打印记录（次数、时间、自助机）")
    async def get(self, report_id: str):
        """How many times, when and where a report was printed (audited)."""
        return await self.services.reports.print_history(report_id, self.actor, ip=self.client_ip,
                                                         request_id=self.request_id)


routes = [
    (r"/api/v1/his/reports", HisReportListHandler),
    (r"/api/v1/his/reports/fhir", HisFhirReportHandler),
    (r"/api/v1/his/reports/(?P<report_id>[^/]+)/fhir", HisFhirExportHandler),
    (r"/api/v1/reports", ReportListHandler),
    (r"/api/v1/reports/(?P<report_id>[^/]+)", ReportHandler),
    (r"/api/v1/staff/reports/(?P<report_id>[^/]+)/prints", ReportPrintsHandler),
]
