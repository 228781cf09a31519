"""The route table: every handler module ends with its `routes`; they are joined here."""

from __future__ import annotations

from typing import Any

from handlers import auth_api  # noqa: I001 - one module a line keeps merges simple
from handlers import billing
from handlers import billing_pages
from handlers import calendar
from handlers import medins
from handlers import catalogue
from handlers import docs
from handlers import h5
from handlers import health
from handlers import health_records
from handlers import health_records_pages
from handlers import identity
from handlers import identity_pages
from handlers import kiosk
from handlers import notify_admin
from handlers import registration
from handlers import registration_pages
from handlers import registration_staff
from handlers import staff_sessions
from handlers import reports
from handlers import reports_pages
from handlers import triage
from handlers import triage_admin
from handlers import pharmacy
from handlers import pharmacy_pages
from server.settings import Settings


def all_routes(settings: Settings) -> list[Any]:
    routes: list[Any] = [
        *health.routes,
        *(docs.routes if settings.development or settings.http.api_docs_in_production else []),
        *catalogue.routes,
        *identity.routes,
        *auth_api.routes,
        *staff_sessions.routes,
        *identity_pages.routes,
        *notify_admin.routes,
        *calendar.routes,
        *registration.routes,
        *registration_staff.routes,
        *registration_pages.routes,
        *h5.routes,
        *reports.routes,
        *reports_pages.routes,
        *kiosk.routes,
        *billing.routes,
        *billing_pages.routes,
        *medins.routes,
        *triage.routes,
        *triage_admin.routes,
        *pharmacy.routes,
        *pharmacy_pages.routes,
        *health_records.routes,
        *health_records_pages.routes,
    ]
    if settings.development:
        routes.extend(dev_routes())
    return routes


def dev_routes() -> list[Any]:
    """Routes that exist only outside production (e.g. the dev inbox)."""
    from handlers import dev_inbox, sandbox_medins, sandbox_wechatpay
    return [*dev_inbox.routes, *sandbox_wechatpay.routes, *sandbox_medins.routes]
