"""Personal data at rest: field encryption (AES-256-GCM or SM4-GCM), HMAC blind indexes,
masking, and signed expiring tokens (QR codes, visit codes, public progress links).

A stored encrypted field is a small document: {"k": key id, "n": nonce, "c": ciphertext+tag}
(all base64 strings), so keys can rotate: new writes use the active key, reads find the
key by id, and `FieldCipher.needs_rotation` tells a re-encryption job what to redo.

A key id names its algorithm: `sm4-gcm.<hex>` is SM4 (GB/T 32907, 16-byte key) in GCM mode,
`aes-256-gcm.<hex>` — and every older id without a prefix, such as `k1a2b3c4d` — is
AES-256-GCM. So a stored ciphertext says how to read it, and one key set may mix both
while `run.py rotate-keys` moves data from AES to SM4 (密评 asks for SM-series at rest).
Blind index = HMAC-SHA256(index key, normalised value): equal inputs give equal indexes,
so we can look a phone or ID number up without storing it in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from Crypto.Random import get_random_bytes
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AES_256_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"
KEY_LENGTHS = {AES_256_GCM: 32, SM4_GCM: 16}
_TAG_LENGTH = 16


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


class DecryptionError(ValueError):
    pass


def key_algorithm(key_id: str) -> str:
    """The algorithm a key id names; ids from before SM4 (no prefix) are AES-256-GCM."""
    prefix = key_id.partition(".")[0]
    return prefix if prefix in KEY_LENGTHS else AES_256_GCM


def new_key_id(algorithm: str, suffix: str) -> str:
    if algorithm not in KEY_LENGTHS:
        raise ValueError(f"unknown data key algorithm {algorithm!r}; known: {sorted(KEY_LENGTHS)}")
    return f"{algorithm}.{suffix}"


class SM4GCM:
    """SM4 in GCM mode with AESGCM's interface: encrypt() returns ciphertext + 16-byte tag.

    `cryptography` has no one-shot AEAD class for SM4, so this drives the streaming
    Cipher API (OpenSSL's SM4-GCM underneath; no extra dependency).
    """

    def __init__(self, key: bytes):
        if len(key) != KEY_LENGTHS[SM4_GCM]:
            raise ValueError("SM4 keys are 16 bytes")
        self._algorithm = algorithms.SM4(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        encryptor = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        if associated_data:
            encryptor.authenticate_additional_data(associated_data)
        sealed = encryptor.update(data) + encryptor.finalize()
        return sealed + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        if len(data) < _TAG_LENGTH:
            raise InvalidTag()
        decryptor = Cipher(self._algorithm, modes.GCM(nonce, data[-_TAG_LENGTH:])).decryptor()
        if associated_data:
            decryptor.authenticate_additional_data(associated_data)
        return decryptor.update(data[:-_TAG_LENGTH]) + decryptor.finalize()


def _aead_for(key_id: str, key: bytes) -> AESGCM | SM4GCM:
    algorithm = key_algorithm(key_id)
    if len(key) != KEY_LENGTHS[algorithm]:
        raise ValueError(f"data key {key_id!r} must be {KEY_LENGTHS[algorithm]} bytes ({algorithm})")
    return SM4GCM(key) if algorithm == SM4_GCM else AESGCM(key)


class FieldCipher:
    """Encrypts and decrypts single string fields; `aad` binds a ciphertext to its field."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str, index_key: bytes):
        if active_key_id not in keys:
            raise ValueError(f"active data key {active_key_id!r} is not among the keys")
        self._keys = dict(keys)
        # One AEAD object per key, made once: ~100x cheaper per field than building a new
        # cipher for each one (the profile of booking and report reads showed cipher set-up
        # as the top CPU item). The key id decides the algorithm (see the module docstring).
        self._aead = {kid: _aead_for(kid, key) for kid, key in self._keys.items()}
        self.active_key_id = active_key_id
        self.active_algorithm = key_algorithm(active_key_id)
        self._index_key = index_key

    def encrypt(self, plaintext: str | None, aad: str = "") -> dict[str, str] | None:
        if plaintext is None:
            return None
        nonce = get_random_bytes(12)
        sealed = self._aead[self.active_key_id].encrypt(nonce, plaintext.encode("utf-8"), aad.encode())
        return {"k": self.active_key_id, "n": _b64(nonce), "c": _b64(sealed)}   # ciphertext + tag

    def decrypt(self, stored: Mapping[str, str] | None, aad: str = "") -> str | None:
        if stored is None:
            return None
        aead = self._aead.get(stored.get("k", ""))
        if aead is None:
            raise DecryptionError(f"unknown data key id {stored.get('k')!r}")
        try:
            return aead.decrypt(_unb64(stored["n"]), _unb64(stored["c"]), aad.encode()).decode("utf-8")
        except (InvalidTag, ValueError, KeyError) as error:
            raise DecryptionError("ciphertext failed authentication") from error

    def needs_rotation(self, stored: Mapping[str, str] | None) -> bool:
        return stored is not None and stored.get("k") != self.active_key_id

    def blind_index(self, value: str, purpose: str) -> str:
        """HMAC of the normalised value, separated by purpose ("phone", "id_number", ...)."""
        normalised = unicodedata.normalize("NFKC", value).strip().upper()
        mac = hmac.new(self._index_key, f"{purpose}\x00{normalised}".encode(), hashlib.sha256)
        return mac.hexdigest()


class TokenSigner:
    """Compact signed tokens: base64url(json payload).base64url(HMAC-SHA256)[:22 bytes].

    Payloads carry `t` (purpose) and `exp` (unix seconds); `verify` refuses another
    purpose, a bad signature or an expired token by returning None (callers turn that
    into their own error: visit_code_invalid, a 404 page, ...).
    """

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def sign(self, purpose: str, payload: Mapping[str, Any], expires_at: float | None) -> str:
        data = {"t": purpose, **payload}
        if expires_at is not None:
            data["exp"] = int(expires_at)
        body = base64.urlsafe_b64encode(
            json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()).rstrip(b"=")
        sig = base64.urlsafe_b64encode(self._mac(body)).rstrip(b"=")
        return (body + b"." + sig).decode("ascii")

    def verify(self, purpose: str, token: str, *, now: float) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired token of `purpose`, else None.

        `now` is required and comes from the caller's injected clock: expiry is the
        service's decision, never the wall clock's (tests move the clock far ahead).
        """
        try:
            body_text, sig_text = token.strip().split(".", 1)
            body = body_text.encode("ascii")
            sig = base64.urlsafe_b64decode(sig_text + "=" * (-len(sig_text) % 4))
        except (ValueError, UnicodeEncodeError):
            return None
        if not hmac.compare_digest(sig, self._mac(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("t") != purpose:
            return None
        exp = data.get("exp")
        if exp is not None and now >= exp:
            return None
        return data


# ---- masking: what responses, pages and logs may show ---------------------------------

def mask_name(name: str | None) -> str:
    """张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜, Li Lei → L*****i."""
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str:
    """13812345678 → 138****5678."""
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_document(number: str | None) -> str:
    """330106199001011234 → 3301**********1234; short documents keep 1 + 2 characters."""
    if not number:
        return ""
    if len(number) >= 15:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    if len(number) <= 3:
        return "*" * len(number)
    return number[:1] + "*" * (len(number) - 3) + number[-2:]
