"""Patient H5 pages: the home page and the catalogue browser."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.base import PageHandler


@dataclass(frozen=True)
class H5Service:
    """A tile on the home page. Each feature adds its own when its page exists."""

    title: str
    subtitle: str
    href: str
    icon: str


# Only services whose pages exist are listed: no dead links.
H5_SERVICES: list[H5Service] = [
    H5Service("科室导航", "院区、科室与医生介绍", "/h5/departments", "🏥"),
    H5Service("我的就诊人", "添加本人及家人实名信息", "/h5/patients", "👪"),
    H5Service("就诊码", "就诊一码通，出示即可", "/h5/visit-code", "🔳"),
    H5Service("报告查询", "检验、检查报告，异常项一目了然", "/h5/reports", "📋"),
    H5Service("我的", "账号与退出登录", "/h5/me", "👤"),
    H5Service("智能导诊", "说说哪里不舒服，帮您选科室", "/h5/triage", "🩺"),
    H5Service("中药代煎", "代煎进度、取药与快递", "/h5/decoction", "🌿"),
    H5Service("门诊缴费", "待缴费用、缴费记录", "/h5/bills", "💳"),
    H5Service("预约挂号", "选科室、医生与时段，在线取号", "/h5/register", "📅"),
    H5Service("我的预约", "取消、报到、查看排队叫号", "/h5/appointments", "🎫"),
]


class HomePageHandler(PageHandler):
    async def get(self):
        """The patient home page: the services that exist."""
        campuses = await self.services.catalogue.list_campuses()
        self.render("h5/home.html", services=H5_SERVICES, campuses=campuses, page_title="首页")


class DepartmentsPageHandler(PageHandler):
    async def get(self):
        """Department tree with doctors, per campus."""
        tree = await self.services.catalogue.department_tree()
        self.render("h5/departments.html", tree=tree, page_title="科室导航")


class DepartmentPageHandler(PageHandler):
    async def get(self, department_id: str):
        """One department and its doctors."""
        department = await self.services.catalogue.get_department(department_id)
        doctors = await self.services.catalogue.list_doctors(department_id)
        self.render("h5/department.html", department=department, doctors=doctors,
                    page_title=department.name)


class RootRedirectHandler(PageHandler):
    async def get(self):
        self.redirect("/h5/")


routes = [
    (r"/", RootRedirectHandler),
    (r"/h5/?", HomePageHandler),
    (r"/h5/departments", DepartmentsPageHandler),
    (r"/h5/departments/(?P<department_id>[^/]+)", DepartmentPageHandler),
]
