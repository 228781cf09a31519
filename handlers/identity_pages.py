"""Patient H5 pages: login (SMS code, WeChat OAuth2), family members, visit code, 我的.

Pages read the session from the `palm_session` cookie (a missing or expired session
redirects to the login page, then back); writes go through the JSON API from
static/js/*.js with the X-XSRFToken header (`Palm.api`).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from handlers.auth import SESSION_COOKIE
from handlers.auth_api import WECHAT_TICKET_COOKIE, set_session_cookie
from handlers.base import PageHandler
from services.errors import Unauthorized
from services.qr import data_url

OAUTH_COOKIE = "palm_oauth"
RELATIONS = {"self": "本人", "spouse": "配偶", "child": "子女", "parent": "父母", "other": "其他"}
DOCUMENTS = {"id_card": "居民身份证", "hk_macao_permit": "港澳居民来往内地通行证", "passport": "护照"}


def safe_next(value: str | None) -> str:
    """Only our own H5 pages are valid places to return to after login (no open redirect)."""
    if value and value.startswith("/h5/") and "//" not in value and "\\" not in value:
        return value
    return "/h5/"


def login_url(next_url: str, **extra: str) -> str:
    return "/h5/login?" + urlencode({"next": safe_next(next_url), **extra})


class PatientPage(PageHandler):
    """A page for a signed-in patient; others are sent to the login page first."""

    account_id: str

    async def prepare(self) -> None:
        super().prepare()
        token = self.get_cookie(SESSION_COOKIE)
        try:
            if not token:
                raise Unauthorized()
            session = await self.services.identity.authenticate(token, "patient")
        except Unauthorized:
            self.redirect(login_url(self.request.uri or "/h5/"))
            return
        self.account_id = session["subject_id"]
        set_session_cookie(self, token)   # the cookie slides with the session; sets `_xsrf` too

    def get_template_namespace(self):
        namespace = super().get_template_namespace()
        namespace.update(relations=RELATIONS, documents=DOCUMENTS)
        return namespace


class LoginPageHandler(PageHandler):
    async def get(self):
        """Phone + SMS code login (and WeChat when configured)."""
        next_url = safe_next(self.get_argument("next", None))
        self.xsrf_token  # noqa: B018
        self.render("h5/login.html", page_title="登录", next_url=next_url,
                    wechat_enabled=self.services.login.wechat_h5_enabled,
                    wechat_pending=bool(self.get_cookie(WECHAT_TICKET_COOKIE)))


class WechatStartHandler(PageHandler):
    async def get(self):
        """Send the browser to WeChat's silent OAuth2 (snsapi_base), with a CSRF state."""
        next_url = safe_next(self.get_argument("next", None))
        state = secrets.token_hex(16)
        base = self.settings.get("public_url") if self.services.settings.http.public_url else \
            f"{self.request.protocol}://{self.request.host}"
        target = self.services.login.wechat_authorize_url(f"{base}/h5/login/wechat/callback", state)
        self.set_signed_cookie(OAUTH_COOKIE, f"{state}|{next_url}", expires_days=None, httponly=True,
                               samesite="Lax", secure=not self.settings.get("development", True),
                               path="/h5/login/wechat", max_age=600)
        self.redirect(target)


class WechatCallbackHandler(PageHandler):
    async def get(self):
        """WeChat's redirect back: log in a bound openid, or ask for the phone once to bind."""
        stored = (self.get_signed_cookie(OAUTH_COOKIE, max_age_days=1) or b"").decode()
        state, _, next_url = stored.partition("|")
        self.clear_cookie(OAUTH_COOKIE, path="/h5/login/wechat")
        code = self.get_argument("code", "")
        if not state or not secrets.compare_digest(state, self.get_argument("state", "")) or not code:
            self.redirect(login_url(next_url))   # refused, forged or stale: plain login
            return
        result = await self.services.login.login_with_wechat_h5(code, self.client_ip)
        if result.token:
            set_session_cookie(self, result.token)
            self.redirect(safe_next(next_url))
            return
        self.set_cookie(WECHAT_TICKET_COOKIE, result.wechat_ticket or "", httponly=True,
                        samesite="Lax", secure=not self.settings.get("development", True),
                        path="/", expires_days=None, max_age=600)
        self.redirect(login_url(next_url, wechat="1"))


class PatientsPageHandler(PatientPage):
    async def get(self):
        """The account's family members with links to their visit codes."""
        patients = await self.services.identity.list_patients(self.account_id)
        limit = self.services.identity.config.max_patients_per_account
        self.render("h5/patients.html", page_title="我的就诊人", patients=[p.to_out() for p in patients],
                    can_add=len(patients) < limit, limit=limit)


class PatientNewPageHandler(PatientPage):
    async def get(self):
        """Add a family member (inline validation from the API's field errors)."""
        self.render("h5/patient_form.html", page_title="添加就诊人", patient=None)


class PatientEditPageHandler(PatientPage):
    async def get(self, patient_id: str):
        """Change a member's phone, relation or default flag; or remove them."""
        record = await self.services.identity.get_patient_for_account(self.account_id, patient_id)
        self.render("h5/patient_form.html", page_title="编辑就诊人", patient=record.to_out())


class VisitCodePageHandler(PatientPage):
    async def get(self, patient_id: str):
        """The member's visit code QR; static/js/visit_code.js renews it before it expires."""
        record = await self.services.identity.get_patient_for_account(self.account_id, patient_id)
        token, lifetime = await self.services.identity.issue_visit_code(self.account_id, patient_id)
        self.render("h5/visit_code.html", page_title="就诊码", patient=record.to_out(),
                    qr=data_url(token), expires_in=lifetime)


class VisitCodeEntryHandler(PatientPage):
    async def get(self):
        """The home tile: the default member's visit code (or add one first)."""
        patients = await self.services.identity.list_patients(self.account_id)
        self.redirect(f"/h5/patients/{patients[0].id}/visit-code" if patients else "/h5/patients/new")


class AccessLogPageHandler(PatientPage):
    async def get(self, patient_id: str):
        """Who at the hospital accessed this member's data."""
        record = await self.services.identity.get_patient_for_account(self.account_id, patient_id)
        entries = await self.services.patient_records.access_log(self.account_id, patient_id)
        self.render("h5/access_log.html", page_title="访问记录", patient=record.to_out(),
                    entries=entries)


class MePageHandler(PatientPage):
    async def get(self):
        """我的: masked phone, WeChat binding, family members, logout."""
        account = await self.services.identity.account_summary(self.account_id)
        self.render("h5/me.html", page_title="我的", account=account)


routes = [
    (r"/h5/login", LoginPageHandler),
    (r"/h5/login/wechat", WechatStartHandler),
    (r"/h5/login/wechat/callback", WechatCallbackHandler),
    (r"/h5/me", MePageHandler),
    (r"/h5/patients", PatientsPageHandler),
    (r"/h5/patients/new", PatientNewPageHandler),
    (r"/h5/patients/(?P<patient_id>[0-9a-f]{24})/edit", PatientEditPageHandler),
    (r"/h5/patients/(?P<patient_id>[0-9a-f]{24})/visit-code", VisitCodePageHandler),
    (r"/h5/patients/(?P<patient_id>[0-9a-f]{24})/access-log", AccessLogPageHandler),
    (r"/h5/visit-code", VisitCodeEntryHandler),
]
