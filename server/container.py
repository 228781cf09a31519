"""The services of one running process, built once at start-up (server/startup.py).

Handlers reach them as `self.services.<domain>`. A new domain adds one field here and
one line in `build_services`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from server.secrets import Secrets
from server.settings import Settings
from services.audit import AuditService
from services.identity.staff_sessions import StaffSessions
from services.billing import BillingService
from services.billing.medins_service import MedInsService
from services.catalogue import CatalogueService
from services.clock import Clock
from services.crypto import FieldCipher, TokenSigner
from services.health_records import HealthRecordsService
from services.identity import DeviceService, IdentityService, LoginService, RecordsService, StaffService
from services.jobs import PeriodicTask
from services.kiosk import KioskService
from services.notify import NotifyService
from services.payment.gateway import PaymentGateway
from services.payment.medins_sandbox import SandboxMedIns
from services.payment.sandbox import SandboxWechatPay
from services.reports import ReportsService
from services.triage import TriageService
from services.registration import RegistrationService
from services.calendar import HospitalCalendar
from services.pharmacy import PharmacyService


@dataclass
class Services:
    settings: Settings
    clock: Clock
    client: AsyncMongoClient
    db: AsyncDatabase
    http: httpx.AsyncClient
    secrets: Secrets
    cipher: FieldCipher          # personal data at rest (services/crypto.py)
    signer: TokenSigner          # signed expiring tokens for QR codes and links
    catalogue: CatalogueService
    audit: AuditService
    identity: IdentityService
    staff: StaffService
    devices: DeviceService
    notify: NotifyService        # outbox: SMS / WeChat / dev inbox (services/notify)
    login: LoginService          # SMS codes, WeChat login (services/identity/login.py)
    patient_records: RecordsService   # HIS card binding, patients' access log
    staff_sessions: StaffSessions     # staff logout, logout-all, admin revoke
    payment_gateway: PaymentGateway
    wechatpay_sandbox: SandboxWechatPay | None   # development only
    billing: BillingService
    reports: ReportsService      # 报告查询: LIS/PACS ingestion, patient reads, PDFs
    kiosk: KioskService          # 自助机 sessions and prints
    triage: TriageService
    calendar: HospitalCalendar   # open/closed days: holidays, 调休, hospital overrides
    registration: RegistrationService
    pharmacy: PharmacyService
    health_records: HealthRecordsService   # 健康档案: patients' home readings
    medins: MedInsService | None = None          # 医保 mobile payment (services/billing/medins*)
    medins_sandbox: SandboxMedIns | None = None  # development only

    def domain_services(self) -> list[Any]:
        """Every domain service object, in declaration order."""
        infra = {"settings", "clock", "client", "db", "http", "secrets", "cipher", "signer"}
        return [getattr(self, f.name) for f in fields(self) if f.name not in infra]

    async def ensure_indexes(self) -> None:
        for service in self.domain_services():
            ensure = getattr(service, "ensure_indexes", None)
            if ensure is not None:
                await ensure()

    def background_tasks(self) -> list[PeriodicTask]:
        tasks: list[PeriodicTask] = []
        for service in self.domain_services():
            provider = getattr(service, "background_tasks", None)
            if provider is not None:
                tasks.extend(provider())
        return tasks
