"""Reports (报告查询): LIS/PACS ingestion (JSON and FHIR R4), patient reads, kiosk prints."""

from services.reports.models import HisReportIn
from services.reports.service import ReportsConfig, ReportsService

__all__ = ["HisReportIn", "ReportsConfig", "ReportsService"]
