"""The route table: every handler module ends with its `routes`; they are joined here."""

from __future__ import annotations

from typing import Any

from handlers import auth_api, catalogue, docs, h5, health, identity, identity_pages
from handlers import kiosk, reports, reports_pages
from server.settings import Settings


def all_routes(settings: Settings) -> list[Any]:
    routes: list[Any] = [
        *health.routes,
        *docs.routes,
        *catalogue.routes,
        *identity.routes,
        *auth_api.routes,
        *identity_pages.routes,
        *h5.routes,
        *reports.routes,
        *reports_pages.routes,
        *kiosk.routes,
    ]
    if settings.development:
        routes.extend(dev_routes())
    return routes


def dev_routes() -> list[Any]:
    """Routes that exist only outside production (e.g. the dev inbox)."""
    from handlers import dev_inbox
    return [*dev_inbox.routes]
