"""A local server speaking WeChat's login protocol (open.weixin.qq.com + api.weixin.qq.com).

    GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state
        → 302 to redirect_uri?code=CODE&state=STATE (snsapi_base is silent)
    GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
        → {access_token, expires_in, refresh_token, openid, scope, is_snapshotuser?}
    GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
        → {openid, session_key, unionid?}  (Content-Type text/plain, as WeChat sends it)
Errors are HTTP 200 with {"errcode", "errmsg"}: 40013 invalid appid, 40125 invalid
appsecret, 40029 invalid code, 40163 code been used, 40226 high-risk user, 45011 too
frequent, -1 system busy. Codes are single-use and live 5 minutes. An openid is stable per
(appid, user), as WeChat's are.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class FakeWechat:
    def __init__(self, port: int, apps: dict[str, str]):
        self.port = port
        self.apps = dict(apps)               # appid → secret
        self.current_user = "user-a"         # who is "in WeChat" for the OAuth2 redirect
        self.snapshot = False                # answer is_snapshotuser=1
        self.fail_next: int | None = None    # errcode for the next exchange
        self.codes: dict[str, dict] = {}     # code → {appid, user, at, used}
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def openid(self, appid: str, user: str) -> str:
        return "o" + hashlib.sha256(f"{appid}:{user}".encode()).hexdigest()[:27]

    def issue_code(self, appid: str, user: str) -> str:
        """What wx.login() gives a mini program, or the authorize redirect gives a page."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"appid": appid, "user": user, "at": time.time(), "used": False}
        return code

    def start(self) -> FakeWechat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(parts.path)
                if parts.path == "/connect/oauth2/authorize":
                    return self._authorize(query)
                if parts.path in ("/sns/oauth2/access_token", "/sns/jscode2session"):
                    code_key = "code" if parts.path.endswith("access_token") else "js_code"
                    return self._json(fake.exchange(query, code_key, parts.path),
                                      "application/json" if code_key == "code" else "text/plain")
                self._json({"errcode": 40066, "errmsg": "invalid url"})

            def _authorize(self, query):
                appid = query.get("appid", "")
                if appid not in fake.apps or query.get("response_type") != "code" \
                        or query.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write("参数错误".encode())
                    return
                code = fake.issue_code(appid, fake.current_user)
                target = query["redirect_uri"] + "?" + urlencode(
                    {"code": code, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def _json(self, data, content_type="application/json"):
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-wechat").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def exchange(self, query: dict[str, str], code_key: str, path: str) -> dict:
        rid = secrets.token_hex(4)
        appid = query.get("appid", "")
        if appid not in self.apps:
            return {"errcode": 40013, "errmsg": f"invalid appid rid: {rid}"}
        if query.get("secret") != self.apps[appid]:
            return {"errcode": 40125, "errmsg": f"invalid appsecret rid: {rid}"}
        if query.get("grant_type") != "authorization_code":
            return {"errcode": 40002, "errmsg": f"invalid grant_type rid: {rid}"}
        if self.fail_next is not None:
            errcode, self.fail_next = self.fail_next, None
            return {"errcode": errcode, "errmsg": f"simulated rid: {rid}"}
        entry = self.codes.get(query.get(code_key, ""))
        if entry is None or entry["appid"] != appid or time.time() - entry["at"] > 300:
            return {"errcode": 40029, "errmsg": f"invalid code rid: {rid}"}
        if entry["used"]:
            return {"errcode": 40163, "errmsg": f"code been used rid: {rid}"}
        entry["used"] = True
        openid = self.openid(appid, entry["user"])
        if path.endswith("jscode2session"):
            return {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        answer = {"access_token": secrets.token_urlsafe(32), "expires_in": 7200,
                  "refresh_token": secrets.token_urlsafe(32), "openid": openid,
                  "scope": "snsapi_base"}
        if self.snapshot:
            answer["is_snapshotuser"] = 1
        return answer
