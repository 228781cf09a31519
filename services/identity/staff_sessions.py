"""Ending staff sessions: logout, logout everywhere, and an admin's revoke of a colleague's
sessions (issue 22 finding e). A staff token lives 12 h; forgetting it in the page is not
enough when a workstation is shared or a laptop is lost, so the server ends it."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId

from services.actors import Actor
from services.audit import AuditService
from services.errors import NotFound
from services.identity.service import IdentityService
from services.identity.staff import StaffService


class StaffSessions:
    def __init__(self, identity: IdentityService, staff: StaffService, audit: AuditService):
        self.identity = identity
        self.staff = staff
        self.audit = audit

    async def logout(self, actor: Actor) -> None:
        """End the session this request came with."""
        await self.identity.logout(actor.session_id or "")

    async def logout_everywhere(self, actor: Actor) -> int:
        """End every session of the signed-in staff member; returns how many."""
        return await self.identity.logout_everywhere("staff", actor.id or "")

    async def revoke(self, admin: Actor, staff_id: str, *, ip: str = "", request_id: str = "") -> int:
        """An admin ends every session of a colleague (audited); 404 for an unknown id."""
        try:
            member = await self.staff.staff.find_one({"_id": ObjectId(staff_id)}, {"username": 1})
        except InvalidId:
            member = None
        if member is None:
            raise NotFound("staff_not_found", "未找到该员工")
        ended = await self.identity.logout_everywhere("staff", staff_id)
        await self.audit.record(admin, "staff.sessions_revoked", ip=ip, request_id=request_id,
                                details={"staff_id": staff_id, "sessions_ended": ended})
        return ended
