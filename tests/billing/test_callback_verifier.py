"""The callback verifier on its own: the published V2 notification (platform-certificate
mode), the 5-minute window, replays, and 公钥/certificate dispatch during a migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from Crypto.PublicKey import RSA

from services.clock import SettableClock
from services.payment import crypto
from services.payment.client import WechatPayCredentials
from services.payment.notify import CallbackRejected, CallbackVerifier
from tests.billing import vectors as v


def v2_headers() -> dict[str, str]:
    return {"Wechatpay-Timestamp": v.V2_TIMESTAMP, "Wechatpay-Nonce": v.V2_NONCE,
            "Wechatpay-Serial": v.V2_SERIAL, "Wechatpay-Signature": v.V2_SIGNATURE,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


def verifier(app, clock, extra_keys: crypto.VerifierKeys | None = None) -> CallbackVerifier:
    keys = extra_keys or crypto.VerifierKeys()
    keys.add_certificate(v.V2_CERTIFICATE)
    creds = WechatPayCredentials(mchid="1234567890", appid="054aa7d7a2a54ab5898df65bd96f001c",
                                 merchant_serial="F5765756002FDD77",
                                 merchant_key=crypto.load_private_key(v.V1_PRIVATE_KEY),
                                 apiv3_key=v.V2_APIV3_KEY, verifier=keys)
    collection = app.services.db[f"nonces_{uuid.uuid4().hex}"]   # every verifier its own nonces
    return CallbackVerifier(collection, clock, {"wechat": creds}, strict_key_length=False)


def test_published_notification_is_verified_and_decrypted_then_refused_as_a_replay(app):
    clock = SettableClock(datetime.fromtimestamp(int(v.V2_TIMESTAMP), UTC))
    check = verifier(app, clock)
    verified = app.call(check.verify(v2_headers(), v.V2_BODY.encode()))
    assert verified.channel == "wechat" and verified.event_type == "PAYSCORE.USER_OPEN_SERVICE"
    assert verified.resource["out_contract_code"] == "21640bdbd08e473e828f3206a2741c6e"
    with pytest.raises(CallbackRejected) as replay:
        app.call(check.verify(v2_headers(), v.V2_BODY.encode()))
    assert replay.value.details["reason"] == "nonce_replayed"


@pytest.mark.parametrize("seconds, accepted", [(299, True), (300, False), (-300, False)])
def test_five_minute_window(app, seconds, accepted):
    clock = SettableClock(datetime.fromtimestamp(int(v.V2_TIMESTAMP) + seconds, UTC))
    check = verifier(app, clock)
    if accepted:
        app.call(check.verify(v2_headers(), v.V2_BODY.encode()))
    else:
        with pytest.raises(CallbackRejected) as stale:
            app.call(check.verify(v2_headers(), v.V2_BODY.encode()))
        assert stale.value.details["reason"] == "timestamp_stale"


def test_during_migration_each_callback_is_checked_with_the_key_its_serial_names(app):
    clock = SettableClock(datetime.fromtimestamp(int(v.V2_TIMESTAMP), UTC))
    public_key = RSA.generate(2048)
    keys = crypto.VerifierKeys()
    keys.add_public_key("PUB_KEY_ID_0112345678202506100000000000", public_key.public_key().export_key())
    check = verifier(app, clock, keys)
    app.call(check.verify(v2_headers(), v.V2_BODY.encode()))   # certificate-signed
    body = v.V2_BODY.encode()
    signed = {**v2_headers(), "Wechatpay-Nonce": "another-nonce-1",
              "Wechatpay-Serial": "PUB_KEY_ID_0112345678202506100000000000",
              "Wechatpay-Signature": crypto.sign(public_key, crypto.response_message(
                  v.V2_TIMESTAMP, "another-nonce-1", body))}
    app.call(check.verify(signed, body))                          # public-key-signed
    crossed = {**signed, "Wechatpay-Nonce": "another-nonce-2", "Wechatpay-Serial": v.V2_SERIAL,
               "Wechatpay-Signature": crypto.sign(public_key, crypto.response_message(
                   v.V2_TIMESTAMP, "another-nonce-2", body))}
    with pytest.raises(CallbackRejected):                         # right key, wrong serial
        app.call(check.verify(crossed, body))


def test_strict_verifier_refuses_a_16_byte_apiv3_key(app):
    clock = SettableClock(datetime.fromtimestamp(int(v.V2_TIMESTAMP), UTC))
    check = verifier(app, clock)
    check.strict_key_length = True
    with pytest.raises(CallbackRejected) as error:
        app.call(check.verify(v2_headers(), v.V2_BODY.encode()))
    assert error.value.details["reason"] == "resource_undecryptable"
