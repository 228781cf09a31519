"""Assembling the payment channels from `[wechatpay]`, the environment and var/.

Production secrets (never in config files):
    PALM_SECRET_WECHATPAY_MERCHANT_KEY   the merchant API private key (PEM text)
    PALM_SECRET_WECHATPAY_APIV3_KEY      the 32-character APIv3 key
Development adds the `sandbox` channel, whose real RSA keys are generated at first run
into var/wechatpay-sandbox.json and served by the same app under /sandbox/wechatpay.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from server.settings import ROOT, Settings
from services.clock import Clock
from services.payment import crypto
from services.payment.client import WechatPayClient, WechatPayCredentials
from services.payment.gateway import PaymentChannel, PaymentGateway, WechatPayConfig
from services.payment.notify import CallbackVerifier
from services.payment.sandbox import SandboxWechatPay
from services.payment.sandbox_keys import load_or_create


def _read(path: str) -> str:
    p = Path(path)
    return (p if p.is_absolute() else ROOT / p).read_text()


def build_payment(settings: Settings, db: AsyncDatabase, http: httpx.AsyncClient, clock: Clock,
                  environ: Mapping[str, str] | None = None
                  ) -> tuple[PaymentGateway, SandboxWechatPay | None]:
    """The gateway with every configured channel, and the sandbox server (development)."""
    environ = os.environ if environ is None else environ
    config = settings.section("wechatpay", WechatPayConfig)
    gateway = PaymentGateway(notify_base_url=config.notify_base_url or settings.public_url)
    sandbox = None
    if config.enabled:
        verifier = crypto.VerifierKeys()
        if config.public_key_id:
            verifier.add_public_key(config.public_key_id, _read(config.public_key_file))
        for cert in config.platform_cert_files:
            verifier.add_certificate(_read(cert))
        creds = WechatPayCredentials(
            mchid=config.mchid, appid=config.appid, merchant_serial=config.merchant_serial,
            merchant_key=crypto.load_private_key(environ["PALM_SECRET_WECHATPAY_MERCHANT_KEY"]),
            apiv3_key=environ["PALM_SECRET_WECHATPAY_APIV3_KEY"].encode(),
            verifier=verifier, public_key_id=config.public_key_id or None,
            base_url=config.base_url, max_skew_seconds=config.max_skew_seconds)
        gateway.channels["wechat"] = PaymentChannel("wechat", "微信支付",
                                                    WechatPayClient(http, creds, clock))
    if config.sandbox and settings.development:
        keys = load_or_create(settings.var_dir)
        sandbox = SandboxWechatPay(db, http, clock, keys, settings.public_url,
                                   refund_delay=config.sandbox_refund_delay_seconds)
        verifier = crypto.VerifierKeys()
        verifier.add_public_key(keys.public_key_id, keys.platform_public_pem)
        creds = WechatPayCredentials(
            mchid=keys.mchid, appid=keys.appid, merchant_serial=keys.merchant_serial,
            merchant_key=crypto.load_private_key(keys.merchant_key_pem),
            apiv3_key=keys.apiv3_key.encode(), verifier=verifier,
            public_key_id=keys.public_key_id, base_url=sandbox.base_url,
            max_skew_seconds=config.max_skew_seconds)
        gateway.channels["sandbox"] = PaymentChannel("sandbox", "微信支付（沙箱）",
                                                     WechatPayClient(http, creds, clock),
                                                     cashier_base=sandbox.prefix + "/cashier")
    gateway.verifier = CallbackVerifier(db["payment_callback_nonces"], clock,
                                        gateway.credentials(), config.max_skew_seconds,
                                        refresh=gateway.refresh_certificates)
    return gateway, sandbox
