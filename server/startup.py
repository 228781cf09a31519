"""Assembly: open the database and HTTP clients, build the services, create indexes.

Nothing here runs at import time. `running()` is used by `run.py serve`/`worker`, by the
test harness and by the benchmarks, so all of them assemble the app the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import httpx
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener

from server import metrics
from server.container import Services
from server.medins import build_medins
from server.payment import build_payment
from server.secrets import Secrets, load_secrets
from server.settings import ROOT, Settings
from services.audit import AuditService
from services.billing import BillingConfig, BillingService
from services.catalogue import CatalogueService
from services.clock import Clock
from services.crypto import FieldCipher, TokenSigner
from services.identity import (
    DeviceService, IdentityConfig, IdentityService, LoginConfig, LoginService, RecordsService,
    StaffConfig, StaffService,
)
from services.identity.staff_sessions import StaffSessions
from services.kiosk import KioskConfig, KioskService
from services.notify import NotifyConfig, NotifyService
from services.registration import RegistrationConfig, RegistrationService
from services.calendar import CalendarConfig, HospitalCalendar
from services.health_records import HealthRecordsService
from services.reports import ReportsConfig, ReportsService
from services.triage import TriageConfig, TriageService
from services.pharmacy import PharmacyConfig, PharmacyService

log = logging.getLogger("palm.startup")


def open_mongo(settings: Settings,
               command_listeners: Sequence[CommandListener] = ()) -> AsyncMongoClient:
    """One client per process and event loop; short timeouts so outages surface as 503.
    `command_listeners` (tests, benchmarks) count the commands each request sends."""
    return AsyncMongoClient(
        settings.database_uri, tz_aware=True,
        serverSelectionTimeoutMS=settings.db.server_selection_timeout_ms,
        connectTimeoutMS=2000, socketTimeoutMS=15000, appname="palm-hospital",
        event_listeners=list(command_listeners))


def open_http() -> httpx.AsyncClient:
    """The one shared outbound HTTP client (SMS, WeChat, payment) with explicit timeouts."""
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0),
                             limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                             headers={"User-Agent": "palm-hospital/1.0"})


def build_services(settings: Settings, client: AsyncMongoClient, http: httpx.AsyncClient,
                   clock: Clock, secrets: Secrets) -> Services:
    db = client[settings.db.name]
    cipher = FieldCipher(secrets.data_keys, secrets.data_key_id, secrets.index_key)
    signer = TokenSigner(secrets.signing_key)
    gateway, sandbox = build_payment(settings, db, http, clock)
    billing = BillingService(db, clock, gateway, settings.section("billing", BillingConfig),
                             hospital_name=settings.hospital_name,
                             signing_key=secrets.signing_key)
    medins, medins_sandbox = build_medins(settings, http, clock, billing, sandbox)
    services = Services(
        settings=settings, clock=clock, client=client, db=db, http=http, secrets=secrets,
        cipher=cipher, signer=signer,
        catalogue=CatalogueService(db),
        audit=AuditService(db, clock),
        identity=IdentityService(db, clock, cipher, signer, settings.section("identity", IdentityConfig)),
        staff=StaffService(db, clock, settings.section("staff", StaffConfig), cipher.blind_index),
        devices=DeviceService(db, clock, cipher),
        notify=NotifyService(db, clock, cipher, http, settings.section("notify", NotifyConfig),
                             development=settings.development,
                             observe_attempt=metrics.observe_notify_attempt),
        payment_gateway=gateway, wechatpay_sandbox=sandbox, billing=billing,
        medins=medins, medins_sandbox=medins_sandbox,
        pharmacy=PharmacyService(db, clock, cipher, signer,
                                 settings.section("pharmacy", PharmacyConfig), settings.public_url),
        login=None, patient_records=None, staff_sessions=None,  # type: ignore[arg-type]  # built below
        reports=None, kiosk=None,  # type: ignore[arg-type]  # built below: use identity/notify/audit
        health_records=None,  # type: ignore[arg-type]  # built below: uses identity
        triage=TriageService(db, CatalogueService(db), clock, settings.section("triage", TriageConfig), ROOT),
        calendar=HospitalCalendar(db, clock, settings.section("calendar", CalendarConfig)),
        registration=RegistrationService(
            db, clock, signer, settings.section("registration", RegistrationConfig),
            public_url=settings.public_url),
    )
    services.login = LoginService(db, clock, cipher, signer, http, services.identity, services.notify,
                                  settings.section("identity", LoginConfig))
    services.patient_records = RecordsService(services.identity, services.audit)
    services.staff_sessions = StaffSessions(services.identity, services.staff, services.audit)
    billing.identity, billing.notify, billing.audit = (services.identity, services.notify,
                                                       services.audit)
    services.registration.connect(patients=services.identity, notify=services.notify,
                                  audit=services.audit, billing=services.billing,
                                  calendar=services.calendar)
    services.calendar.connect(audit=services.audit)
    services.pharmacy.wire(services)
    services.reports = ReportsService(db, clock, cipher, signer, services.identity, services.notify,
                                      services.audit, settings.section("reports", ReportsConfig),
                                      settings.public_url, settings.hospital_name)
    services.kiosk = KioskService(db, clock, services.identity, services.reports, services.audit,
                                  settings.section("kiosk", KioskConfig), billing=services.billing)
    services.health_records = HealthRecordsService(db, clock, cipher, services.identity)
    return services


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None,
                  secrets: Secrets | None = None,
                  command_listeners: Sequence[CommandListener] = ()) -> AsyncIterator[Services]:
    """Open clients, build services and indexes; close everything on exit."""
    secrets = secrets or load_secrets(settings.var_dir, settings.development)
    client = open_mongo(settings, command_listeners)
    try:
        await client.aconnect()
        async with open_http() as http:
            services = build_services(settings, client, http, clock or Clock(), secrets)
            await services.ensure_indexes()
            yield services
    finally:
        await client.close()
