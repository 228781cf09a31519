"""Campuses, the department tree and doctors (public read API)."""

from __future__ import annotations

from handlers.base import PUBLIC, ApiHandler, api
from services.catalogue import CampusOut, DepartmentNode, DoctorOut
from services.models import ApiModel


class DepartmentQuery(ApiModel):
    campus: str | None = None


class CampusListHandler(ApiHandler):
    @api(auth=PUBLIC, response=list[CampusOut], summary="院区列表", tags=("catalogue",))
    async def get(self):
        """The campuses of the hospital group."""
        return await self.services.catalogue.list_campuses()


class DepartmentListHandler(ApiHandler):
    @api(auth=PUBLIC, query=DepartmentQuery, response=list[DepartmentNode],
         summary="科室树（两级）", tags=("catalogue",))
    async def get(self, query: DepartmentQuery):
        """The two-level department tree, optionally for one campus (?campus=east)."""
        return await self.services.catalogue.department_tree(query.campus)


class DepartmentDoctorListHandler(ApiHandler):
    @api(auth=PUBLIC, response=list[DoctorOut], summary="科室医生", tags=("catalogue",))
    async def get(self, department_id: str):
        """Doctors of a department (and of its sub-departments)."""
        return await self.services.catalogue.list_doctors(department_id)


routes = [
    (r"/api/v1/campuses", CampusListHandler),
    (r"/api/v1/departments", DepartmentListHandler),
    (r"/api/v1/departments/(?P<department_id>[^/]+)/doctors", DepartmentDoctorListHandler),
]
