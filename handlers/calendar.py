"""The hospital calendar: open and closed days for everyone, overrides for admins."""

from __future__ import annotations

from handlers.auth import staff
from handlers.base import PUBLIC, ApiHandler, PageHandler, api
from services.calendar.models import (
    CalendarDayOut,
    CalendarQuery,
    OverrideIn,
    OverrideOut,
    OverrideQuery,
)

TAGS = ("calendar",)
ADMIN = staff("admin")


class CalendarDayListHandler(ApiHandler):
    @api(auth=PUBLIC, query=CalendarQuery, response=list[CalendarDayOut], tags=TAGS,
         errors=(400,), summary="医院日历：每天是否开诊（法定节假日、调休、医院调整）")
    async def get(self, query: CalendarQuery):
        """Consecutive days from `start` with whether the hospital is open and why."""
        return await self.services.calendar.list_days(query.start, query.days)


class OverrideListHandler(ApiHandler):
    @api(auth=ADMIN, query=OverrideQuery, response=list[OverrideOut], tags=TAGS,
         summary="医院对日历的调整（管理）")
    async def get(self, query: OverrideQuery):
        """The admins' open/closed overrides from `start` on."""
        return await self.services.calendar.list_overrides(query.start)


class OverrideHandler(ApiHandler):
    @api(auth=ADMIN, body=OverrideIn, response=OverrideOut, tags=TAGS, errors=(400,),
         summary="设定某天开诊或休息（管理）")
    async def put(self, day: str, body: OverrideIn):
        """Open or close one day; replaces an earlier override of that day."""
        return await self.services.calendar.check_set_override(day, body, self.actor)

    @api(auth=ADMIN, response=CalendarDayOut, tags=TAGS, errors=(400, 404),
         summary="取消某天的调整（管理）")
    async def delete(self, day: str):
        """Drop the override; answers the day as it now is (config or statutory)."""
        return await self.services.calendar.check_remove_override(day, self.actor)


class CalendarPageHandler(PageHandler):
    async def get(self):
        """The admins' calendar page (a shell: data comes from the calendar API)."""
        self.render("admin/calendar.html", page_title="医院日历")


DATE = r"(?P<day>[^/]+)"
routes = [
    (r"/admin/calendar", CalendarPageHandler),
    (r"/api/v1/calendar", CalendarDayListHandler),
    (r"/api/v1/admin/calendar/overrides", OverrideListHandler),
    (rf"/api/v1/admin/calendar/overrides/{DATE}", OverrideHandler),
]
