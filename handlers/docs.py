"""The OpenAPI document and an offline docs page (Swagger UI served from the package)."""

from __future__ import annotations

import swagger_ui_bundle
import tornado.web

from handlers.base import BaseHandler
from server.openapi import build_openapi


class OpenApiHandler(BaseHandler):
    async def get(self):
        """The OpenAPI 3.1 document, generated from the route table once per process."""
        document = self.application.settings.get("_openapi")
        if document is None:
            routes = self.application.wildcard_router.rules
            document = build_openapi([(r.matcher.regex.pattern, r.target) for r in routes],
                                     title=f"{self.settings['hospital_name']} API")
            self.application.settings["_openapi"] = document
        self.set_header("Cache-Control", "no-cache")
        self.write(document)


class DocsPageHandler(BaseHandler):
    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Swagger UI injects inline styles; allow them on this page only.
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                        "script-src 'self'; object-src 'none'; frame-ancestors 'none'")

    async def get(self):
        """API docs page that needs no internet."""
        self.render("docs.html")


routes = [
    (r"/api/openapi.json", OpenApiHandler),
    (r"/api/docs", DocsPageHandler),
    (r"/api/docs/assets/(.*)", tornado.web.StaticFileHandler,
     {"path": swagger_ui_bundle.swagger_ui_path}),
]
