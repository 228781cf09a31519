"""Test assembly for 医保 payment: the 医保 sandbox on its own loopback port, and the service
built over the app's own database, clock, billing service and APIv3 sandbox keys."""

from __future__ import annotations

import dataclasses

import tornado.httpserver
import tornado.netutil

from handlers.sandbox_medins import sandbox_medins_app
from services.billing.medins import MedInsConfig, MedInsPayments
from services.payment.client import WechatPayClient
from services.payment.medins_center import MedInsCenterClient, MedInsCenterConfig
from services.payment.medins_sandbox import SandboxMedIns
from services.payment.medins_wechat import WechatMedInsClient

SECRET = b"medins-sandbox-shared-secret-000"


def start_medins_sandbox(app) -> tuple[SandboxMedIns, str]:
    async def start(services):
        sandbox = SandboxMedIns(services.wechatpay_sandbox, app.clock, SECRET)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(sandbox_medins_app(sandbox))
        server.add_sockets(sockets)
        return sandbox, f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    return app.call(start)


def build_medins(app, base: str, *, center_timeout: float = 2.0,
                 config: MedInsConfig | None = None) -> MedInsPayments:
    """A fresh service instance (a restarted process builds exactly this)."""
    services = app.services
    channel = services.payment_gateway.channels["sandbox"]
    mix_client = WechatPayClient(services.http, dataclasses.replace(
        channel.creds, base_url=f"{base}/wx"), app.clock)
    center = MedInsCenterClient(services.http, MedInsCenterConfig(
        base_url=f"{base}/mpc", org_code="H00000000001", secret=SECRET,
        timeout_seconds=center_timeout))
    return MedInsPayments(services.billing, center, WechatMedInsClient(mix_client),
                          channel.client, config or MedInsConfig(insurance_timeout_seconds=120))
