"""The Tornado application: routes, templates, static files, settings."""

from __future__ import annotations

from pathlib import Path

import tornado.web
from tornado import httputil

from handlers.base import SECURITY_HEADERS, NotFoundHandler
from server import logs
from server.body_limit import BodyLimitDelegate
from server.container import Services
from server.routes import all_routes

ROOT = Path(__file__).resolve().parent.parent


class PalmApplication(tornado.web.Application):
    """Tornado's Application with the request body limit enforced before routing."""

    def start_request(self, server_conn: object,
                      request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        return BodyLimitDelegate(super().start_request(server_conn, request_conn), request_conn,
                                 self.settings["max_body_bytes"], SECURITY_HEADERS)


def make_app(services: Services) -> tornado.web.Application:
    settings = services.settings
    return PalmApplication(
        all_routes(settings),
        services=services,
        template_path=str(ROOT / "templates"),
        static_path=str(ROOT / "static"),
        static_url_prefix="/static/",
        cookie_secret=services.secrets.cookie_secret,
        default_handler_class=NotFoundHandler,
        log_function=logs.log_request,
        max_body_bytes=settings.http.max_body_bytes,
        trusted_proxies=settings.http.proxy_networks(),
        metrics_networks=settings.http.metrics_allowed_networks(),
        metrics_token=settings.http.metrics_token,
        hospital_name=settings.hospital_name,
        development=settings.development,
        public_url=settings.public_url,
        compress_response=True,
        xheaders=True,
        xsrf_cookie_kwargs={"samesite": "Lax", "secure": not settings.development},
    )
