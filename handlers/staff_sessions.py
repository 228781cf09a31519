"""Staff logout, logout everywhere, and an admin's revoke of a colleague's sessions."""

from __future__ import annotations

from handlers.auth import staff
from handlers.base import ApiHandler, api
from services.identity import ROLES
from services.models import OutModel

ALL_STAFF = staff(*ROLES)


class SessionsEndedOut(OutModel):
    sessions_ended: int


class StaffLogoutHandler(ApiHandler):
    @api(auth=ALL_STAFF, status=204, summary="员工退出登录", tags=("staff",))
    async def post(self):
        """End this staff session on the server (the page also forgets the token)."""
        await self.services.staff_sessions.logout(self.actor)


class StaffLogoutAllHandler(ApiHandler):
    @api(auth=ALL_STAFF, response=SessionsEndedOut, summary="员工退出所有设备", tags=("staff",))
    async def post(self):
        """End every session of the signed-in staff member (every workstation)."""
        ended = await self.services.staff_sessions.logout_everywhere(self.actor)
        return SessionsEndedOut(sessions_ended=ended)


class StaffSessionsRevokeHandler(ApiHandler):
    @api(auth=staff("admin"), response=SessionsEndedOut, errors=(404,),
         summary="管理员强制下线员工", tags=("staff",))
    async def post(self, staff_id: str):
        """End every session of a colleague (lost laptop, left the hospital); audited."""
        ended = await self.services.staff_sessions.revoke(self.actor, staff_id, ip=self.client_ip,
                                                          request_id=self.request_id)
        return SessionsEndedOut(sessions_ended=ended)


routes = [
    (r"/api/v1/staff/logout", StaffLogoutHandler),
    (r"/api/v1/staff/logout-all", StaffLogoutAllHandler),
    (r"/api/v1/admin/staff/(?P<staff_id>[^/]+)/sessions/revoke", StaffSessionsRevokeHandler),
]
