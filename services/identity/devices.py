"""Devices (kiosks, clinic displays, the HIS) and their signed requests.

A device has a key id and a secret (stored encrypted: we need it to recompute the HMAC).
Each request carries:
    X-Palm-Key-Id, X-Palm-Timestamp (unix seconds), X-Palm-Nonce (8–64 chars),
    X-Palm-Signature = base64(HMAC-SHA256(secret, canonical))
    canonical = METHOD "\n" PATH[?QUERY] "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))
A timestamp more than 5 minutes off, or a nonce seen before, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock
from services.crypto import FieldCipher
from services.errors import InvalidRequest, Unauthorized

DeviceKind = Literal["kiosk", "display", "his"]
DEVICE_KINDS = ("kiosk", "display", "his")
MAX_SKEW = timedelta(minutes=5)


def canonical_request(method: str, path_and_query: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path_and_query, timestamp, nonce,
                      hashlib.sha256(body).hexdigest()]).encode()


def sign_request(secret: str, method: str, path_and_query: str, timestamp: str, nonce: str,
                 body: bytes) -> str:
    mac = hmac.new(secret.encode(), canonical_request(method, path_and_query, timestamp, nonce, body),
                   hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class DeviceService:
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher):
        self.devices = db["devices"]
        self.nonces = db["device_nonces"]
        self.clock = clock
        self.cipher = cipher

    async def ensure_indexes(self) -> None:
        await self.nonces.create_index("expires_at", expireAfterSeconds=0)

    async def register(self, kind: str, name: str, campus_code: str | None = None) -> tuple[str, str]:
        """A new device; returns (key id, secret). The secret is shown once."""
        if kind not in DEVICE_KINDS:
            raise InvalidRequest("invalid_device_kind", "设备类型无效")
        key_id = f"{kind}-{secrets.token_hex(6)}"
        secret = secrets.token_urlsafe(32)
        await self.devices.insert_one({"_id": key_id, "kind": kind, "name": name,
                                       "campus_code": campus_code, "active": True,
                                       "secret": self.cipher.encrypt(secret, aad="device_secret"),
                                       "created_at": self.clock.now()})
        return key_id, secret

    async def ensure_device(self, key_id: str, kind: str, name: str, secret: str,
                            campus_code: str | None = None) -> None:
        """Create or reset a device with a known key id and secret (development demo only)."""
        if kind not in DEVICE_KINDS:
            raise InvalidRequest("invalid_device_kind", "设备类型无效")
        await self.devices.update_one({"_id": key_id}, {"$set": {
            "kind": kind, "name": name, "campus_code": campus_code, "active": True,
            "secret": self.cipher.encrypt(secret, aad="device_secret")},
            "$setOnInsert": {"created_at": self.clock.now()}}, upsert=True)

    async def verify(self, method: str, path_and_query: str, headers: Mapping[str, str],
                     body: bytes) -> dict[str, Any]:
        """The device that signed this request; Unauthorized for anything off."""
        key_id = headers.get("X-Palm-Key-Id", "")
        timestamp = headers.get("X-Palm-Timestamp", "")
        nonce = headers.get("X-Palm-Nonce", "")
        signature = headers.get("X-Palm-Signature", "")
        if not (key_id and timestamp and nonce and signature):
            raise Unauthorized("signature_missing", "设备请求缺少签名")
        if not (8 <= len(nonce) <= 64) or not timestamp.isdigit():
            raise Unauthorized("signature_invalid", "设备签名无效")
        device = await self.devices.find_one({"_id": key_id, "active": True})
        if device is None:
            raise Unauthorized("signature_invalid", "设备签名无效")
        secret = self.cipher.decrypt(device["secret"], aad="device_secret") or ""
        expected = sign_request(secret, method, path_and_query, timestamp, nonce, body)
        if not hmac.compare_digest(expected, signature):
            raise Unauthorized("signature_invalid", "设备签名无效")
        now = self.clock.now()
        if abs(now.timestamp() - int(timestamp)) > MAX_SKEW.total_seconds():
            raise Unauthorized("signature_expired", "设备请求时间戳已过期，请校准时间")
        try:
            await self.nonces.insert_one({"_id": f"{key_id}:{nonce}",
                                          "expires_at": now + 2 * MAX_SKEW})
        except DuplicateKeyError:
            raise Unauthorized("signature_replayed", "重复的设备请求已被拒绝") from None
        return device
