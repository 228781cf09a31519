"""The real APIv3 client against the local sandbox server (a protocol peer with its own keys)."""

from __future__ import annotations

import dataclasses
import time

import pytest
from Crypto.PublicKey import RSA

from services.errors import DependencyUnavailable
from services.payment import crypto
from services.payment.client import ChannelRejected, WechatPayClient, parse_trade_bill


def sandbox_client(app):
    return app.services.payment_gateway.channels["sandbox"].client


def order(app, out_trade_no, total=1250):
    client = sandbox_client(app)
    return app.call(lambda s: client.jsapi_order(
        out_trade_no=out_trade_no, description="掌上医院-门诊缴费", amount_fen=total,
        openid="o_test_openid", notify_url=f"{app.url}/callbacks/wechatpay/transactions",
        attach="bill-1"))


def test_order_query_pay_and_close_round_trip(app):
    client = sandbox_client(app)
    prepay_id = order(app, "PHTEST0000000001")
    assert prepay_id.startswith("wx")
    assert app.call(lambda s: client.query_order("PHTEST0000000001"))["trade_state"] == "NOTPAY"
    app.call(lambda s: s.wechatpay_sandbox.pay(prepay_id))
    tx = app.call(lambda s: client.query_order("PHTEST0000000001"))
    assert tx["trade_state"] == "SUCCESS" and tx["amount"]["total"] == 1250
    assert tx["transaction_id"].startswith("42000") and tx["attach"] == "bill-1"
    with pytest.raises(ChannelRejected) as paid:
        app.call(lambda s: client.close_order("PHTEST0000000001"))
    assert paid.value.channel_code == "ORDERPAID"


def test_closed_order_cannot_be_paid_at_the_cashier(app):
    client = sandbox_client(app)
    prepay_id = order(app, "PHTEST0000000002")
    app.call(lambda s: client.close_order("PHTEST0000000002"))
    assert app.call(lambda s: client.query_order("PHTEST0000000002"))["trade_state"] == "CLOSED"
    assert app.call(lambda s: s.wechatpay_sandbox.pay(prepay_id)) is None


def test_unknown_order_is_order_not_exist(app):
    with pytest.raises(ChannelRejected) as missing:
        app.call(lambda s: sandbox_client(app).query_order("PHNOSUCHORDER0001"))
    assert missing.value.channel_code == "ORDER_NOT_EXIST" and missing.value.http_status == 404


def test_refund_is_processing_then_succeeds_and_cannot_exceed_the_total(app):
    client = sandbox_client(app)
    prepay_id = order(app, "PHTEST0000000003", total=3000)
    app.call(lambda s: s.wechatpay_sandbox.pay(prepay_id))
    refund = app.call(lambda s: client.refund(
        out_trade_no="PHTEST0000000003", out_refund_no="RFTEST0000000003", refund_fen=2000,
        total_fen=3000, reason="测试", notify_url=""))
    assert refund["status"] == "PROCESSING" and refund["amount"]["refund"] == 2000
    deadline = time.time() + 5
    while app.call(lambda s: client.query_refund("RFTEST0000000003"))["status"] != "SUCCESS":
        assert time.time() < deadline
        time.sleep(0.1)
    with pytest.raises(ChannelRejected) as too_much:
        app.call(lambda s: client.refund(
            out_trade_no="PHTEST0000000003", out_refund_no="RFTEST0000000004", refund_fen=1001,
            total_fen=3000, reason="测试", notify_url=""))
    assert too_much.value.channel_code == "NOT_ENOUGH"


def test_request_signed_with_another_merchant_key_is_refused_by_the_sandbox(app):
    creds = dataclasses.replace(sandbox_client(app).creds, merchant_key=RSA.generate(2048))
    impostor = WechatPayClient(app.services.http, creds, app.clock)
    with pytest.raises(ChannelRejected) as refused:
        app.call(lambda s: impostor.query_order("PHTEST0000000001"))
    assert refused.value.channel_code == "SIGN_ERROR" and refused.value.http_status == 401


def test_response_signed_by_another_platform_key_is_not_believed(app):
    real = sandbox_client(app).creds
    wrong = crypto.VerifierKeys()
    wrong.add_public_key(real.public_key_id, RSA.generate(2048).public_key().export_key())
    creds = dataclasses.replace(real, verifier=wrong)
    client = WechatPayClient(app.services.http, creds, app.clock)
    with pytest.raises(DependencyUnavailable) as error:
        app.call(lambda s: client.query_order("PHTEST0000000001"))
    assert error.value.details["reason"] == "response_signature_invalid"


def test_unsigned_success_response_is_treated_as_forged(app):
    creds = dataclasses.replace(sandbox_client(app).creds, base_url=app.url)
    client = WechatPayClient(app.services.http, creds, app.clock)
    with pytest.raises(DependencyUnavailable) as error:
        app.call(lambda s: client.request("GET", "/healthz"))
    assert error.value.details["reason"] == "response_unsigned"


def test_transport_failure_is_dependency_unavailable(app):
    from server.embedded_db import free_port
    creds = dataclasses.replace(sandbox_client(app).creds,
                                base_url=f"http://127.0.0.1:{free_port()}")
    client = WechatPayClient(app.services.http, creds, app.clock)
    with pytest.raises(DependencyUnavailable) as error:
        app.call(lambda s: client.query_order("PHTEST0000000001"))
    assert error.value.code == "payment_channel_unavailable"


def test_trade_bill_downloads_with_its_sha1_and_lists_the_days_orders(app):
    from services.clock import local_date
    prepay_id = order(app, "PHTEST0000000009", total=1999)
    app.call(lambda s: s.wechatpay_sandbox.pay(prepay_id))
    day = local_date(app.clock.now()).isoformat()
    text = app.call(lambda s: sandbox_client(app).trade_bill(day))
    rows, summary = parse_trade_bill(text)
    paid = {r["商户订单号"]: r["应结订单金额"] for r in rows if r["交易状态"] == "SUCCESS"}
    assert paid.get("PHTEST0000000009") == "19.99"
    assert int(summary["总交易单数"]) == len(rows)


def test_wechat_pay_system_error_is_dependency_unavailable(app):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Busy(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"code":"SYSTEM_ERROR","message":"\\u7cfb\\u7edf\\u9519\\u8bef"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        creds = dataclasses.replace(sandbox_client(app).creds,
                                    base_url=f"http://127.0.0.1:{server.server_port}")
        client = WechatPayClient(app.services.http, creds, app.clock)
        with pytest.raises(DependencyUnavailable) as error:
            app.call(lambda s: client.query_order("PHTEST0000000001"))
        assert error.value.details["reason"] == "http 500"
    finally:
        server.shutdown()
        server.server_close()
