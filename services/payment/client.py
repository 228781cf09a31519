"""The WeChat Pay APIv3 client (直连商户) over the shared httpx client.

The same code talks to api.mch.weixin.qq.com and to the local sandbox (server/…
`/sandbox/wechatpay`): only `WechatPayCredentials` differ. Every request is signed over
the exact bytes sent; every response is verified (key chosen by `Wechatpay-Serial`,
timestamp within 5 minutes) before its body is parsed. Transport errors and 5xx become
`DependencyUnavailable`; a 4xx becomes `ChannelRejected` carrying WeChat's `code`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from Crypto.PublicKey import RSA

from services.clock import Clock
from services.errors import BusinessRuleViolation, DependencyUnavailable
from services.payment import crypto

log = logging.getLogger("palm.payment")


class ChannelRejected(BusinessRuleViolation):
    """WeChat Pay answered 4xx (PARAM_ERROR, ORDER_NOT_EXIST, NOT_ENOUGH, ...)."""

    default_code = "payment_channel_rejected"
    default_message = "支付渠道拒绝了本次请求"

    def __init__(self, channel_code: str, channel_message: str, http_status: int):
        super().__init__(details={"channel_code": channel_code, "http_status": http_status})
        self.channel_code = channel_code
        self.channel_message = channel_message
        self.http_status = http_status


def channel_unavailable(reason: str) -> DependencyUnavailable:
    return DependencyUnavailable("payment_channel_unavailable", "支付渠道暂时不可用，请稍后再试",
                                 details={"reason": reason})


@dataclass
class WechatPayCredentials:
    """One merchant's configuration: where to call and which keys to use."""

    mchid: str
    appid: str
    merchant_serial: str                    # serial of our API certificate
    merchant_key: RSA.RsaKey                # apiclient_key.pem
    apiv3_key: bytes                        # 32 bytes, AEAD key of resources
    verifier: crypto.VerifierKeys = field(default_factory=crypto.VerifierKeys)
    public_key_id: str | None = None        # 公钥 mode: sent as Wechatpay-Serial
    base_url: str = "https://api.mch.weixin.qq.com"
    max_skew_seconds: int = 300


def _nonce() -> str:
    return secrets.token_hex(16).upper()


class WechatPayClient:
    """JSAPI order, pay-sign, query, close, refunds, trade bill, platform certificates."""

    def __init__(self, http: httpx.AsyncClient, creds: WechatPayCredentials, clock: Clock,
                 nonce: Callable[[], str] = _nonce):
        self.http = http
        self.creds = creds
        self.clock = clock
        self.nonce = nonce

    # ---- transport -------------------------------------------------------------------
    def _timestamp(self) -> str:
        return str(int(self.clock.now().timestamp()))

    def sign_request(self, method: str, canonical_url: str, body: bytes) -> dict[str, str]:
        """Headers for one request, the Authorization signed over `body` exactly."""
        c = self.creds
        headers = {
            "Authorization": crypto.authorization(c.mchid, c.merchant_serial, c.merchant_key,
                                                  method, canonical_url, self._timestamp(),
                                                  self.nonce(), body),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        if c.public_key_id:
            headers["Wechatpay-Serial"] = c.public_key_id
        return headers

    async def request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                      body: dict[str, Any] | None = None, verify: bool = True,
                      absolute_url: str | None = None) -> httpx.Response:
        """Send one signed request; return the verified response (2xx) or raise."""
        if absolute_url is not None:
            url = absolute_url
            parts = urlsplit(absolute_url)
            canonical = parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            base = self.creds.base_url.rstrip("/")
            qs = f"?{urlencode(query)}" if query else ""
            canonical = urlsplit(base).path + path + qs
            url = base + path + qs
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False,
                                                  separators=(",", ":")).encode("utf-8")
        headers = self.sign_request(method, canonical, raw)
        try:
            response = await self.http.request(method, url, content=raw or None, headers=headers)
        except httpx.HTTPError as error:
            log.warning("wechatpay %s %s: %s", method, path, type(error).__name__)
            raise channel_unavailable(type(error).__name__) from None
        if response.status_code >= 500:
            raise channel_unavailable(f"http {response.status_code}")
        if response.status_code >= 400:
            try:
                data = response.json()
            except ValueError:
                data = {}
            raise ChannelRejected(str(data.get("code", "UNKNOWN")), str(data.get("message", "")),
                                  response.status_code)
        if verify:
            await self.verify_response(response)
        return response

    async def verify_response(self, response: httpx.Response) -> None:
        """Refuse an unsigned, mis-signed or stale 2xx: it could come from anyone."""
        h = response.headers
        timestamp = h.get("Wechatpay-Timestamp", "")
        try:
            skew = abs(int(self.clock.now().timestamp()) - int(timestamp))
        except ValueError:
            raise channel_unavailable("response_unsigned") from None
        if skew >= self.creds.max_skew_seconds:
            raise channel_unavailable("response_stale")
        serial = h.get("Wechatpay-Serial", "")
        if not self.creds.verifier.has(serial) and not serial.startswith(
                crypto.PUBLIC_KEY_ID_PREFIX):
            await self.refresh_certificates()   # unknown serial → refresh once, then fail
        try:
            self.creds.verifier.verify(serial, timestamp, h.get("Wechatpay-Nonce", ""),
                                       response.content, h.get("Wechatpay-Signature", ""))
        except crypto.SignatureInvalid as error:
            log.warning("wechatpay response failed verification: %s", error)
            raise channel_unavailable("response_signature_invalid") from None

    async def refresh_certificates(self) -> list[str]:
        """Download and decrypt the platform certificates (GET /v3/certificates).

        The download itself is verified with the certificates it brings (as WeChat's SDKs
        do on first use): a certificate is added only when the response verifies with it.
        """
        try:
            response = await self.request("GET", "/v3/certificates", verify=False)
        except ChannelRejected:
            return []
        added = []
        for item in response.json().get("data", []):
            enc = item.get("encrypt_certificate") or {}
            try:
                pem = crypto.aead_decrypt(self.creds.apiv3_key, enc.get("nonce", ""),
                                          enc.get("associated_data", ""), enc.get("ciphertext", ""))
            except crypto.DecryptFailed:
                continue
            candidate = crypto.VerifierKeys()
            serial = candidate.add_certificate(pem, item.get("serial_no"))
            h = response.headers
            try:
                candidate.verify(h.get("Wechatpay-Serial", ""), h.get("Wechatpay-Timestamp", ""),
                                 h.get("Wechatpay-Nonce", ""), response.content,
                                 h.get("Wechatpay-Signature", ""))
            except crypto.SignatureInvalid:
                if not self.creds.verifier.has(h.get("Wechatpay-Serial", "")):
                    continue
            self.creds.verifier.add_certificate(pem, serial)
            added.append(serial)
        return added

    # ---- payments ----------------------------------------------------------------------
    async def jsapi_order(self, *, out_trade_no: str, description: str, amount_fen: int,
                          openid: str, notify_url: str, attach: str = "",
                          time_expire: str | None = None) -> str:
        """Create a JSAPI order; returns prepay_id."""
        body: dict[str, Any] = {
            "appid": self.creds.appid, "mchid": self.creds.mchid,
            "description": description[:127], "out_trade_no": out_trade_no,
            "notify_url": notify_url, "amount": {"total": amount_fen, "currency": "CNY"},
            "payer": {"openid": openid},
        }
        if attach:
            body["attach"] = attach[:128]
        if time_expire:
            body["time_expire"] = time_expire
        response = await self.request("POST", "/v3/pay/transactions/jsapi", body=body)
        prepay_id = response.json().get("prepay_id")
        if not prepay_id:
            raise channel_unavailable("no_prepay_id")
        return prepay_id

    def jsapi_pay_params(self, prepay_id: str) -> dict[str, str]:
        """What WeixinJSBridge getBrandWCPayRequest needs, paySign over appId/ts/nonce/package."""
        timestamp, nonce = self._timestamp(), self.nonce()
        package = f"prepay_id={prepay_id}"
        message = f"{self.creds.appid}\n{timestamp}\n{nonce}\n{package}\n"
        return {"appId": self.creds.appid, "timeStamp": timestamp, "nonceStr": nonce,
                "package": package, "signType": "RSA",
                "paySign": crypto.sign(self.creds.merchant_key, message)}

    async def query_order(self, out_trade_no: str) -> dict[str, Any]:
        """The Transaction for our out_trade_no (trade_state SUCCESS, NOTPAY, CLOSED, ...)."""
        response = await self.request("GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}",
                                      query={"mchid": self.creds.mchid})
        return response.json()

    async def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order (204)."""
        await self.request("POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
                           body={"mchid": self.creds.mchid})

    async def refund(self, *, out_trade_no: str, out_refund_no: str, refund_fen: int,
                     total_fen: int, reason: str, notify_url: str) -> dict[str, Any]:
        """Request a domestic refund; returns the Refund (status PROCESSING/SUCCESS/...)."""
        body = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
                "reason": reason[:80], "notify_url": notify_url,
                "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"}}
        response = await self.request("POST", "/v3/refund/domestic/refunds", body=body)
        return response.json()

    async def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        """The Refund by our out_refund_no."""
        response = await self.request("GET", f"/v3/refund/domestic/refunds/{out_refund_no}")
        return response.json()

    async def trade_bill(self, bill_date: str, bill_type: str = "ALL") -> str:
        """The trade bill (交易账单) of a day as text, its SHA-1 checked."""
        response = await self.request("GET", "/v3/bill/tradebill", query={
            "bill_date": bill_date, "bill_type": bill_type, "tar_type": "GZIP"})
        meta = response.json()
        download = await self.request("GET", "", absolute_url=meta["download_url"], verify=False)
        data = download.content
        try:
            data = gzip.decompress(data)
        except OSError:
            pass  # served uncompressed
        if meta.get("hash_type", "SHA1").upper() == "SHA1" and \
                hashlib.sha1(data).hexdigest().lower() != str(meta.get("hash_value", "")).lower():
            raise channel_unavailable("trade_bill_hash_mismatch")
        return data.decode("utf-8")


def parse_trade_bill(text: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Rows (header name → value, backticks stripped) and the summary of a trade bill."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [], {}
    header = [h.strip() for h in lines[0].split(",")]
    rows: list[dict[str, str]] = []
    summary: dict[str, str] = {}
    i = 1
    while i < len(lines):
        line = lines[i]
        if line.startswith("总交易单数"):
            names = [h.strip() for h in line.split(",")]
            if i + 1 < len(lines):
                summary = dict(zip(names, (v.strip().lstrip("`") for v in lines[i + 1].split(","))))
            break
        rows.append(dict(zip(header, (v.strip().lstrip("`") for v in line.split(",")))))
        i += 1
    return rows, summary
