"""Assembling 医保 mobile payment from `[medins]`, the payment gateway and the environment.

Production: `[medins] enabled = true` with the 移动支付中心's URL and our 定点机构编码 (both from
onboarding), the secret in PALM_SECRET_MEDINS_KEY, and `channel = "wechat"` (the merchant's
APIv3 keys sign the mixed orders and refund cash). Development: the local 医保 sandbox is
mounted under /sandbox/medins of the same app and paired with the APIv3 sandbox channel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping

import httpx

from server.settings import Settings
from services.billing import BillingService
from services.billing.medins import MedInsConfig, MedInsPayments
from services.billing.medins_service import MedInsService, MedInsSettings
from services.clock import Clock
from services.payment.client import WechatPayClient
from services.payment.medins_center import MedInsCenterClient, MedInsCenterConfig
from services.payment.medins_sandbox import SandboxMedIns
from services.payment.medins_wechat import WechatMedInsClient
from services.payment.sandbox import SandboxWechatPay

SANDBOX_PREFIX = "/sandbox/medins"
SANDBOX_ORG_CODE = "H00000000001"


def build_medins(settings: Settings, http: httpx.AsyncClient, clock: Clock,
                 billing: BillingService, wechatpay_sandbox: SandboxWechatPay | None,
                 environ: Mapping[str, str] | None = None
                 ) -> tuple[MedInsService | None, SandboxMedIns | None]:
    """The 医保 service (None when not configured) and the development sandbox."""
    environ = os.environ if environ is None else environ
    config = settings.section("medins", MedInsSettings)
    timing = MedInsConfig(order_expiry_minutes=config.order_expiry_minutes,
                          insurance_timeout_seconds=config.insurance_timeout_seconds)
    if config.enabled:
        channel = billing.gateway.get(config.channel)
        center = MedInsCenterClient(http, MedInsCenterConfig(
            base_url=config.center_base_url, org_code=config.org_code,
            secret=environ["PALM_SECRET_MEDINS_KEY"].encode(),
            timeout_seconds=config.center_timeout_seconds))
        mix = WechatMedInsClient(WechatPayClient(http, dataclasses.replace(
            channel.creds, base_url=config.wechat_base_url), clock))
        payments = MedInsPayments(billing, center, mix, channel.client, timing,
                                  wechat_channel=channel.name)
        return MedInsService(payments), None
    if not (config.sandbox and settings.development and wechatpay_sandbox is not None):
        return None, None
    secret = hashlib.sha256(b"medins-sandbox:" + wechatpay_sandbox.keys.apiv3_key.encode()).digest()
    sandbox = SandboxMedIns(wechatpay_sandbox, clock, secret, SANDBOX_ORG_CODE)
    channel = billing.gateway.get("sandbox")
    base = settings.public_url.rstrip("/") + SANDBOX_PREFIX
    center = MedInsCenterClient(http, MedInsCenterConfig(
        base_url=f"{base}/mpc", org_code=SANDBOX_ORG_CODE, secret=secret,
        timeout_seconds=config.center_timeout_seconds))
    mix = WechatMedInsClient(WechatPayClient(http, dataclasses.replace(
        channel.creds, base_url=f"{base}/wx"), clock))
    payments = MedInsPayments(billing, center, mix, channel.client, timing,
                              wechat_channel="sandbox")
    return MedInsService(payments), sandbox
