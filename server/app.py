"""The Tornado application: routes, templates, static files, settings."""

from __future__ import annotations

from pathlib import Path

import tornado.web

from handlers.base import NotFoundHandler
from server import logs
from server.container import Services
from server.routes import all_routes

ROOT = Path(__file__).resolve().parent.parent


def make_app(services: Services) -> tornado.web.Application:
    settings = services.settings
    return tornado.web.Application(
        all_routes(settings),
        services=services,
        template_path=str(ROOT / "templates"),
        static_path=str(ROOT / "static"),
        static_url_prefix="/static/",
        cookie_secret=services.secrets.cookie_secret,
        default_handler_class=NotFoundHandler,
        log_function=logs.log_request,
        max_body_bytes=settings.http.max_body_bytes,
        hospital_name=settings.hospital_name,
        development=settings.development,
        public_url=settings.public_url,
        compress_response=True,
        xheaders=True,
        xsrf_cookie_kwargs={"samesite": "Lax", "secure": not settings.development},
    )
