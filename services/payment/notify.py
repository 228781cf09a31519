"""Verifying WeChat Pay callbacks (支付通知 / 退款通知) before anything is believed.

Order of checks, all on the raw body before any JSON parsing:
1. `Wechatpay-Signature` present, not the SIGNTEST probe, Signature-Type supported;
2. `Wechatpay-Timestamp` within 5 minutes of our clock (stale → refused);
3. the signature verifies with the key named by `Wechatpay-Serial`;
4. the nonce was never seen (a replay is refused) — remembered in MongoDB with a TTL
   longer than the window, inserted atomically under a unique key;
5. the AEAD_AES_256_GCM resource decrypts with the APIv3 key.
Any failure raises `CallbackRejected` (401, nothing changes).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.clock import Clock
from services.errors import DependencyUnavailable, Unauthorized
from services.payment import crypto
from services.payment.client import WechatPayCredentials


class CallbackRejected(Unauthorized):
    default_code = "callback_rejected"
    default_message = "回调验签失败"


@dataclass(frozen=True)
class VerifiedCallback:
    """A callback that passed every check: its envelope and decrypted resource."""

    channel: str
    event_id: str
    event_type: str
    resource: dict[str, Any]


class CallbackVerifier:
    """Checks callbacks for any configured channel; the serial picks the channel's keys."""

    def __init__(self, nonces: AsyncCollection, clock: Clock,
                 channels: Mapping[str, WechatPayCredentials], max_skew_seconds: int = 300,
                 strict_key_length: bool = True,
                 refresh: Callable[[], Awaitable[Any]] | None = None,
                 refresh_interval_seconds: float = 60.0):
        self.nonces = nonces
        self.refresh = refresh        # downloads platform certificates (unknown serial)
        self.refresh_interval_seconds = refresh_interval_seconds
        self._refreshed_at: float | None = None
        self.strict_key_length = strict_key_length   # False only to replay 16-byte-key vectors
        self.clock = clock
        self.channels = channels
        self.max_skew_seconds = max_skew_seconds

    async def ensure_indexes(self) -> None:
        # replays are refused for twice the acceptance window, then forgotten
        await self.nonces.create_index("seen_at",
                                       expireAfterSeconds=2 * self.max_skew_seconds + 60)

    async def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedCallback:
        """Return the verified, decrypted callback or raise CallbackRejected."""
        signature = headers.get("Wechatpay-Signature", "")
        timestamp = headers.get("Wechatpay-Timestamp", "")
        nonce = headers.get("Wechatpay-Nonce", "")
        serial = headers.get("Wechatpay-Serial", "")
        kind = headers.get("Wechatpay-Signature-Type", crypto.SCHEMA)
        if not signature or signature.startswith(crypto.SIGNTEST_PREFIX) or kind != crypto.SCHEMA:
            raise CallbackRejected(details={"reason": "signature_missing"})
        if not nonce or len(nonce) > 64:
            raise CallbackRejected(details={"reason": "nonce_missing"})
        try:
            sent = int(timestamp)
        except ValueError:
            raise CallbackRejected(details={"reason": "timestamp_invalid"}) from None
        if abs(self.clock.now().timestamp() - sent) >= self.max_skew_seconds:
            raise CallbackRejected(details={"reason": "timestamp_stale"})
        name, creds = await self._channel_for(serial)
        try:
            creds.verifier.verify(serial, timestamp, nonce, body, signature)
        except crypto.SignatureInvalid:
            raise CallbackRejected(details={"reason": "signature_invalid"}) from None
        try:
            await self.nonces.insert_one({"_id": f"{name}:{nonce}", "seen_at": self.clock.now(),
                                          "timestamp": sent})
        except DuplicateKeyError:
            raise CallbackRejected(details={"reason": "nonce_replayed"}) from None
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise CallbackRejected(details={"reason": "algorithm_unsupported"})
            plaintext = crypto.aead_decrypt(creds.apiv3_key, resource["nonce"],
                                            resource.get("associated_data", ""),
                                            resource["ciphertext"],
                                            require_aes256=self.strict_key_length)
            data = json.loads(plaintext)
        except (ValueError, KeyError, TypeError, crypto.DecryptFailed):
            raise CallbackRejected(details={"reason": "resource_undecryptable"}) from None
        if not isinstance(data, dict):
            raise CallbackRejected(details={"reason": "resource_undecryptable"})
        return VerifiedCallback(channel=name, event_id=str(envelope.get("id", "")),
                                event_type=str(envelope.get("event_type", "")), resource=data)

    async def _channel_for(self, serial: str) -> tuple[str, WechatPayCredentials]:
        for attempt in range(2):
            for name, creds in self.channels.items():
                if creds.verifier.has(serial):
                    return name, creds
            if attempt or not await self._refresh_certificates(serial):
                break
        raise CallbackRejected(details={"reason": "serial_unknown"})

    async def _refresh_certificates(self, serial: str) -> bool:
        """A new platform certificate? Download once; at most once a minute (a forged serial
        must not make us call WeChat Pay on every request)."""
        if self.refresh is None or serial.startswith(crypto.PUBLIC_KEY_ID_PREFIX) or not serial:
            return False
        now = self.clock.now().timestamp()
        if self._refreshed_at is not None and now - self._refreshed_at < self.refresh_interval_seconds:
            return False
        self._refreshed_at = now
        try:
            await self.refresh()
        except DependencyUnavailable:
            return False
        return True
