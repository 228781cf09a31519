"""The sandbox channel: WeChat Pay APIv3's server side, running locally (development only).

It is a protocol peer, not a shortcut: it verifies our request signatures with the
merchant public key, signs every response with its own platform key (公钥 mode,
`PUB_KEY_ID_…`), sends signed and AES-256-GCM-encrypted callbacks to our notify_url,
and serves gzipped trade bills with a SHA-1. The developer pays on its cashier page.
State lives in MongoDB (`sandbox_wxpay_orders`, `sandbox_wxpay_refunds`) so several app
processes share it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock, local, local_date
from services.payment import crypto
from services.payment.sandbox_keys import SandboxKeys

log = logging.getLogger("palm.sandbox")


class SandboxError(Exception):
    """An APIv3 error response: HTTP status and WeChat's `code`/`message`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message = status, code, message


def _rfc3339(moment: datetime) -> str:
    return local(moment).isoformat(timespec="seconds")


class SandboxWechatPay:
    """Sandbox server state and behaviour; handlers/sandbox_wechatpay.py is its HTTP face."""

    def __init__(self, db: AsyncDatabase, http: httpx.AsyncClient, clock: Clock,
                 keys: SandboxKeys, public_url: str, prefix: str = "/sandbox/wechatpay",
                 refund_delay: float = 0.2):
        self.orders = db["sandbox_wxpay_orders"]
        self.refunds = db["sandbox_wxpay_refunds"]
        self.http = http
        self.clock = clock
        self.keys = keys
        self.public_url = public_url.rstrip("/")
        self.prefix = prefix
        self.refund_delay = refund_delay
        self._merchant_public = crypto.load_public_key(keys.merchant_public_pem)
        self._platform_key = crypto.load_private_key(keys.platform_key_pem)
        self._tasks: set[asyncio.Task[None]] = set()
        # 平台证书 mode: when a certificate (of the platform key) is set, responses and
        # callbacks carry its serial and GET /v3/certificates serves it encrypted.
        self.platform_certificate: str | None = None

    async def ensure_indexes(self) -> None:
        await self.orders.create_index("prepay_id", unique=True)
        await self.orders.create_index([("success_time", ASCENDING)])
        await self.refunds.create_index([("created_at", ASCENDING)])

    @property
    def base_url(self) -> str:
        return self.public_url + self.prefix

    # ---- the protocol ----------------------------------------------------------------
    def authenticate(self, method: str, uri: str, authorization: str, body: bytes) -> None:
        """Verify our merchant's request signature (401 SIGN_ERROR otherwise)."""
        try:
            params = crypto.parse_authorization(authorization)
        except crypto.SignatureInvalid:
            raise SandboxError(401, "SIGN_ERROR", "Authorization 格式错误") from None
        if params["mchid"] != self.keys.mchid or params["serial_no"] != self.keys.merchant_serial:
            raise SandboxError(401, "SIGN_ERROR", "商户号或证书序列号错误")
        try:
            skew = abs(int(self.clock.now().timestamp()) - int(params["timestamp"]))
        except ValueError:
            raise SandboxError(401, "SIGN_ERROR", "时间戳错误") from None
        if skew >= 300:
            raise SandboxError(401, "SIGN_ERROR", "请求已过期")
        message = crypto.request_message(method, uri, params["timestamp"], params["nonce_str"], body)
        if not crypto.verify(self._merchant_public, message, params["signature"]):
            raise SandboxError(401, "SIGN_ERROR", "签名错误")

    @property
    def signing_serial(self) -> str:
        if self.platform_certificate:
            return crypto.certificate_serial(self.platform_certificate)
        return self.keys.public_key_id

    def certificates(self) -> dict[str, Any]:
        """GET /v3/certificates: the platform certificate, AEAD-encrypted with the APIv3 key."""
        if not self.platform_certificate:
            return {"data": []}
        nonce = secrets.token_urlsafe(9)[:12]
        now = self.clock.now()
        return {"data": [{
            "serial_no": self.signing_serial, "effective_time": _rfc3339(now - timedelta(days=1)),
            "expire_time": _rfc3339(now + timedelta(days=365 * 5)),
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
                "ciphertext": crypto.aead_encrypt(self.keys.apiv3_key.encode(), nonce, "certificate",
                                                  self.platform_certificate.encode())}}]}

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Wechatpay-* headers over a response or callback body."""
        timestamp = str(int(self.clock.now().timestamp()))
        nonce = secrets.token_hex(16).upper()
        return {
            "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.signing_serial,
            "Wechatpay-Signature-Type": crypto.SCHEMA,
            "Wechatpay-Signature": crypto.sign(self._platform_key,
                                               crypto.response_message(timestamp, nonce, body)),
            "Request-ID": secrets.token_hex(12),
        }

    async def create_jsapi(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v3/pay/transactions/jsapi → {prepay_id}."""
        try:
            otn, total = body["out_trade_no"], int(body["amount"]["total"])
            openid, notify_url = body["payer"]["openid"], body["notify_url"]
            description = body["description"]
        except (KeyError, TypeError, ValueError):
            raise SandboxError(400, "PARAM_ERROR", "参数错误") from None
        if body.get("mchid") != self.keys.mchid or body.get("appid") != self.keys.appid:
            raise SandboxError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        if not 6 <= len(otn) <= 32 or total <= 0:
            raise SandboxError(400, "PARAM_ERROR", "参数错误")
        prepay_id = "wx" + secrets.token_hex(15)
        now = self.clock.now()
        fields = {"description": description, "total": total, "openid": openid,
                  "notify_url": notify_url, "attach": body.get("attach", ""),
                  "time_expire": body.get("time_expire")}
        existing = await self.orders.find_one({"_id": otn})
        if existing is None:
            try:
                await self.orders.insert_one({"_id": otn, **fields, "mchid": self.keys.mchid,
                                              "appid": self.keys.appid, "trade_state": "NOTPAY",
                                              "prepay_id": prepay_id, "created_at": now})
                return {"prepay_id": prepay_id}
            except DuplicateKeyError:  # raced with an identical request: check it instead
                existing = await self.orders.find_one({"_id": otn})
        if any(existing.get(k) != v for k, v in fields.items() if k != "time_expire"):
            raise SandboxError(400, "INVALID_REQUEST", "201 商户订单号重复")
        if existing["trade_state"] != "NOTPAY":
            raise SandboxError(400, "ORDERPAID" if existing["trade_state"] == "SUCCESS"
                               else "ORDER_CLOSED", "订单状态不允许")
        await self.orders.update_one({"_id": otn}, {"$set": {"prepay_id": prepay_id}})
        return {"prepay_id": prepay_id}

    def transaction(self, order: dict[str, Any]) -> dict[str, Any]:
        """The Transaction resource of an order, as query and notify return it."""
        state = order["trade_state"]
        data: dict[str, Any] = {
            "appid": order["appid"], "mchid": order["mchid"], "out_trade_no": order["_id"],
            "trade_type": "JSAPI", "trade_state": state,
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭",
                                 "REFUND": "转入退款"}.get(state, state),
            "attach": order.get("attach", ""), "payer": {"openid": order["openid"]},
            "amount": {"total": order["total"], "currency": "CNY"},
        }
        if order.get("transaction_id"):
            data.update(transaction_id=order["transaction_id"], bank_type="OTHERS",
                        success_time=_rfc3339(order["success_time"]))
            data["amount"].update(payer_total=order["total"], payer_currency="CNY")
        return data

    async def query(self, out_trade_no: str, mchid: str) -> dict[str, Any]:
        order = await self.orders.find_one({"_id": out_trade_no})
        if order is None or mchid != self.keys.mchid:
            raise SandboxError(404, "ORDER_NOT_EXIST", "订单不存在")
        return self.transaction(order)

    async def close(self, out_trade_no: str, body: dict[str, Any]) -> None:
        if body.get("mchid") != self.keys.mchid:
            raise SandboxError(400, "PARAM_ERROR", "商户号错误")
        order = await self.orders.find_one_and_update(
            {"_id": out_trade_no, "trade_state": {"$in": ["NOTPAY", "CLOSED"]}},
            {"$set": {"trade_state": "CLOSED"}})
        if order is None:
            exists = await self.orders.find_one({"_id": out_trade_no}, {"_id": 1})
            if exists is None:
                raise SandboxError(404, "ORDER_NOT_EXIST", "订单不存在")
            raise SandboxError(400, "ORDERPAID", "订单已支付")

    # ---- the cashier (the developer pays or cancels) ----------------------------------
    async def cashier_order(self, prepay_id: str) -> dict[str, Any] | None:
        return await self.orders.find_one({"prepay_id": prepay_id})

    async def pay(self, prepay_id: str, *, send_callback: bool = True) -> dict[str, Any] | None:
        """The payer confirmed: the order succeeds once, and the callback goes out.

        `send_callback=False` loses the notification, so polling can be exercised.
        """
        now = self.clock.now()
        current = await self.orders.find_one({"prepay_id": prepay_id})
        if current is None or (self.expiry_of(current) or now) <= now:
            return None
        order = await self.orders.find_one_and_update(
            {"_id": current["_id"], "trade_state": "NOTPAY"},
            {"$set": {"trade_state": "SUCCESS", "success_time": now, "refundable": current["total"],
                      "transaction_id": "42000" + local(now).strftime("%Y%m%d") +
                      "".join(secrets.choice("0123456789") for _ in range(15))}},
            return_document=ReturnDocument.AFTER)
        if order is not None and send_callback:
            self._spawn(self.deliver(order["notify_url"], "TRANSACTION.SUCCESS", "transaction",
                                     "支付成功", self.transaction(order)))
        return order

    # ---- refunds --------------------------------------------------------------------
    async def create_refund(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            out_refund_no, amount = body["out_refund_no"], body["amount"]
            refund, total = int(amount["refund"]), int(amount["total"])
        except (KeyError, TypeError, ValueError):
            raise SandboxError(400, "PARAM_ERROR", "参数错误") from None
        existing = await self.refunds.find_one({"_id": out_refund_no})
        if existing is not None:
            return self.refund_resource(existing)
        order = await self.orders.find_one({"_id": body.get("out_trade_no")})
        if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
            raise SandboxError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if total != order["total"] or refund <= 0:
            raise SandboxError(400, "PARAM_ERROR", "退款金额错误")
        # the channel's own guard: refunds of one order never exceed its total
        updated = await self.orders.find_one_and_update(
            {"_id": order["_id"], "refundable": {"$gte": refund}}, {"$inc": {"refundable": -refund}})
        if updated is None:
            raise SandboxError(403, "NOT_ENOUGH", "可退金额不足")
        now = self.clock.now()
        doc = {"_id": out_refund_no, "refund_id": "50" + secrets.token_hex(14),
               "out_trade_no": order["_id"], "transaction_id": order["transaction_id"],
               "refund": refund, "total": total, "status": "PROCESSING", "created_at": now,
               "notify_url": body.get("notify_url", ""), "reason": body.get("reason", "")}
        await self.refunds.insert_one(doc)
        await self.orders.update_one({"_id": order["_id"]}, {"$set": {"trade_state": "REFUND"}})
        self._spawn(self._finish_refund(out_refund_no))
        return self.refund_resource(doc)

    def refund_resource(self, doc: dict[str, Any]) -> dict[str, Any]:
        data = {"refund_id": doc["refund_id"], "out_refund_no": doc["_id"],
                "transaction_id": doc["transaction_id"], "out_trade_no": doc["out_trade_no"],
                "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
                "create_time": _rfc3339(doc["created_at"]), "status": doc["status"],
                "funds_account": "AVAILABLE",
                "amount": {"total": doc["total"], "refund": doc["refund"],
                           "payer_total": doc["total"], "payer_refund": doc["refund"],
                           "currency": "CNY"}}
        if doc.get("success_time"):
            data["success_time"] = _rfc3339(doc["success_time"])
        return data

    async def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        doc = await self.refunds.find_one({"_id": out_refund_no})
        if doc is None:
            raise SandboxError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return self.refund_resource(doc)

    async def _finish_refund(self, out_refund_no: str) -> None:
        await asyncio.sleep(self.refund_delay)
        doc = await self.refunds.find_one_and_update(
            {"_id": out_refund_no, "status": "PROCESSING"},
            {"$set": {"status": "SUCCESS", "success_time": self.clock.now()}},
            return_document=ReturnDocument.AFTER)
        if doc is None or not doc.get("notify_url"):
            return
        resource = {"mchid": self.keys.mchid, "out_trade_no": doc["out_trade_no"],
                    "transaction_id": doc["transaction_id"], "out_refund_no": doc["_id"],
                    "refund_id": doc["refund_id"], "refund_status": "SUCCESS",
                    "success_time": _rfc3339(doc["success_time"]),
                    "user_received_account": "支付用户零钱",
                    "amount": {"total": doc["total"], "refund": doc["refund"],
                               "payer_total": doc["total"], "payer_refund": doc["refund"]}}
        await self.deliver(doc["notify_url"], "REFUND.SUCCESS", "refund", "退款成功", resource)

    # ---- callbacks ------------------------------------------------------------------
    def callback(self, event_type: str, original_type: str, summary: str,
                 resource: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """A signed, encrypted notification body and its headers."""
        nonce = secrets.token_urlsafe(9)[:12]
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
        envelope = {
            "id": "EV-" + secrets.token_hex(10), "create_time": _rfc3339(self.clock.now()),
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": crypto.aead_encrypt(self.keys.apiv3_key.encode(), nonce,
                                                           original_type, plaintext),
                         "associated_data": original_type, "nonce": nonce},
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        return body, {"Content-Type": "application/json", **self.signed_headers(body)}

    async def deliver(self, url: str, event_type: str, original_type: str, summary: str,
                      resource: dict[str, Any], attempts: int = 4) -> bool:
        """POST a notification; retried (freshly signed) until a 2xx, a few times."""
        for attempt in range(attempts):
            body, headers = self.callback(event_type, original_type, summary, resource)
            try:
                response = await self.http.post(url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    return True
                log.info("sandbox callback %s answered %s", event_type, response.status_code)
            except httpx.HTTPError as error:
                log.info("sandbox callback %s failed: %s", event_type, type(error).__name__)
            await asyncio.sleep(0.5 * (attempt + 1))
        return False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- trade bill -----------------------------------------------------------------
    async def trade_bill(self, bill_date: str, bill_type: str) -> bytes:
        """The day's trade bill text: paid orders and refunds initiated that day."""
        rows = []
        header = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
                  "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
                  "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
        def yuan(fen: int) -> str:
            return f"{fen / 100:.2f}"

        paid_total = refund_total = 0
        if bill_type in ("ALL", "SUCCESS"):
            async for o in self.orders.find({"success_time": {"$ne": None}}):
                if o.get("success_time") is None or str(local_date(o["success_time"])) != bill_date:
                    continue
                paid_total += o["total"]
                rows.append([local(o["success_time"]).strftime("%Y-%m-%d %H:%M:%S"), o["appid"],
                             o["mchid"], "0", "", o["transaction_id"], o["_id"], o["openid"],
                             "JSAPI", "SUCCESS", "OTHERS", "CNY", yuan(o["total"]), "0.00", "0",
                             "0", "0.00", "0.00", "", "", o["description"], o.get("attach", ""),
                             "0.00", "0.60%", yuan(o["total"]), "0.00", ""])
        if bill_type in ("ALL", "REFUND"):
            async for r in self.refunds.find({}):
                if str(local_date(r["created_at"])) != bill_date:
                    continue
                order = await self.orders.find_one({"_id": r["out_trade_no"]}) or {}
                refund_total += r["refund"]
                rows.append([local(r["created_at"]).strftime("%Y-%m-%d %H:%M:%S"),
                             order.get("appid", ""), self.keys.mchid, "0", "", r["transaction_id"],
                             r["out_trade_no"], order.get("openid", ""), "JSAPI", "REFUND",
                             "OTHERS", "CNY", "0.00", "0.00", r["refund_id"], r["_id"],
                             yuan(r["refund"]), "0.00", "ORIGINAL", r["status"],
                             order.get("description", ""), order.get("attach", ""), "0.00",
                             "0.60%", yuan(r["total"]), yuan(r["refund"]), ""])
        lines = [header] + [",".join("`" + str(v) for v in row) for row in rows]
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(",".join("`" + v for v in (str(len(rows)), yuan(paid_total), yuan(refund_total),
                                                 "0.00", "0.00", yuan(paid_total),
                                                 yuan(refund_total))))
        return ("\n".join(lines) + "\n").encode("utf-8")

    def bill_download(self, bill_date: str, bill_type: str, content: bytes) -> dict[str, str]:
        token = f"{bill_date}.{bill_type}"
        return {"hash_type": "SHA1", "hash_value": hashlib.sha1(content).hexdigest(),
                "download_url": f"{self.base_url}/v3/billdownload/file?token={token}"}

    @staticmethod
    def gzip(content: bytes) -> bytes:
        return gzip.compress(content)

    def expiry_of(self, order: dict[str, Any]) -> datetime | None:
        raw = order.get("time_expire")
        if not raw:
            return order["created_at"] + timedelta(days=7)
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return None
