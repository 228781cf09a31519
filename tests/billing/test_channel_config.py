"""Channel assembly: the real WeChat Pay merchant from configuration and the environment;
the sandbox only outside production."""

from __future__ import annotations

from server.payment import build_payment
from services.clock import SettableClock
from services.payment import crypto
from tests.billing import vectors as v


def test_wechat_channel_is_built_from_config_and_environment_secrets(app, tmp_path):
    cert = tmp_path / "platform.pem"
    cert.write_text(v.V2_CERTIFICATE)
    pub = tmp_path / "pub_key.pem"
    pub.write_text(crypto.load_private_key(v.V1_PRIVATE_KEY).public_key().export_key().decode())
    settings = app.settings.with_overrides({
        "wechatpay.enabled": True, "wechatpay.mchid": "1900000109",
        "wechatpay.appid": "wxd678efh567hg6787", "wechatpay.merchant_serial": "F5765756002FDD77",
        "wechatpay.public_key_id": "PUB_KEY_ID_0119000001092025010100000000",
        "wechatpay.public_key_file": str(pub), "wechatpay.platform_cert_files": [str(cert)],
        "wechatpay.notify_base_url": "https://h5.example-hospital.cn"})
    environ = {"PALM_SECRET_WECHATPAY_MERCHANT_KEY": v.V1_PRIVATE_KEY,
               "PALM_SECRET_WECHATPAY_APIV3_KEY": "0123456789abcdef0123456789abcdef"}
    gateway, sandbox = build_payment(settings, app.services.db, app.services.http,
                                     SettableClock(), environ)
    wechat = gateway.get("wechat")
    assert wechat.creds.base_url == "https://api.mch.weixin.qq.com" and wechat.cashier_base is None
    assert wechat.creds.verifier.has(v.V2_SERIAL)
    assert wechat.creds.verifier.has("PUB_KEY_ID_0119000001092025010100000000")
    assert crypto.sign(wechat.creds.merchant_key, v.V1_MESSAGE) == v.V1_SIGNATURE
    assert gateway.notify_url("transactions") == \
        "https://h5.example-hospital.cn/callbacks/wechatpay/transactions"
    assert sandbox is not None and "sandbox" in gateway.channels   # development


def test_production_has_no_sandbox(app):
    settings = app.settings.with_overrides({"env": "production"})
    gateway, sandbox = build_payment(settings, app.services.db, app.services.http, SettableClock(), {})
    assert sandbox is None and gateway.channels == {}


def test_sandbox_routes_exist_only_in_development(app):
    from server.routes import all_routes
    production = app.settings.with_overrides({"env": "production"})
    paths = [r[0] for r in all_routes(production)]
    assert not any(p.startswith("/sandbox/") for p in paths)
    assert any(r[0].startswith("/sandbox/") for r in all_routes(app.settings))
