"""Admins edit the triage knowledge base: read it, store a new version, roll back."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from handlers.auth import staff
from handlers.base import ApiHandler, PageHandler, api
from services.models import ApiModel
from services.triage import KbOut, KbVersionOut

ADMIN = staff("admin")


class KbPutIn(ApiModel):
    base_version: int = Field(ge=0, description="修改所基于的版本（当前生效版本），防止覆盖他人的修改")
    note: str = Field("", max_length=200)
    kb: dict[str, Any]


class KbActivateIn(ApiModel):
    base_version: int = Field(ge=0)


class KbHandler(ApiHandler):
    @api(auth=ADMIN, response=KbOut, summary="当前导诊知识库", tags=("triage-admin",))
    async def get(self):
        """The active knowledge base with its version."""
        return await self.services.triage.get_kb()

    @api(auth=ADMIN, body=KbPutIn, response=KbVersionOut, summary="保存并启用新版本知识库",
         tags=("triage-admin",), errors=(400, 409))
    async def put(self, body: KbPutIn):
        """Validate, store as a new version and activate (409 if someone else was first)."""
        return await self.services.triage.check_update_kb(body.kb, body.base_version, body.note, self.actor)


class KbVersionListHandler(ApiHandler):
    @api(auth=ADMIN, response=list[KbVersionOut], summary="知识库版本列表", tags=("triage-admin",))
    async def get(self):
        """Stored versions, newest first."""
        return await self.services.triage.list_versions()


class KbVersionHandler(ApiHandler):
    @api(auth=ADMIN, response=KbOut, summary="某个版本的知识库", tags=("triage-admin",))
    async def get(self, version: str):
        """One stored version with its content."""
        return await self.services.triage.get_kb(version)


class KbVersionActivateHandler(ApiHandler):
    @api(auth=ADMIN, body=KbActivateIn, response=KbVersionOut, summary="启用某个历史版本（回滚）",
         tags=("triage-admin",), errors=(404, 409))
    async def post(self, version: str, body: KbActivateIn):
        """Make a stored version active again."""
        return await self.services.triage.activate_version(version, body.base_version, self.actor)


class KbPageHandler(PageHandler):
    async def get(self):
        """The admins' knowledge-base page (a shell: data comes from the admin API with the
        staff token kept in sessionStorage)."""
        self.render("admin/triage.html", page_title="导诊知识库")


routes = [
    (r"/admin/triage", KbPageHandler),
    (r"/api/v1/admin/triage/kb", KbHandler),
    (r"/api/v1/admin/triage/kb/versions", KbVersionListHandler),
    (r"/api/v1/admin/triage/kb/versions/(?P<version>[^/]+)", KbVersionHandler),
    (r"/api/v1/admin/triage/kb/versions/(?P<version>[^/]+)/activate", KbVersionActivateHandler),
]
