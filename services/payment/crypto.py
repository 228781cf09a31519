"""WeChat Pay APIv3 cryptography: request signatures, response/callback verification, AEAD.

Pure functions over pycryptodome (the cross-check in tests uses `wechatpayv3`, which is
built on `cryptography`, so the two are independent):

    sign(key, message)                  Base64(RSASSA-PKCS1-v1_5(SHA-256))
    authorization(...)                  the `WECHATPAY2-SHA256-RSA2048 ...` header value
    request_message(...)                METHOD\\nURL\\nTS\\nNONCE\\nBODY\\n
    response_message(...)               TS\\nNONCE\\nBODY\\n
    VerifierKeys                        public keys by `Wechatpay-Serial` (公钥 id or cert serial)
    aead_decrypt / aead_encrypt         AEAD_AES_256_GCM resources (APIv3 key)
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from Crypto.Util.asn1 import DerSequence

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"


class SignatureInvalid(ValueError):
    """A signature that does not verify, an unknown serial, or a malformed header."""


class DecryptFailed(ValueError):
    """An AEAD resource that fails authentication (wrong key, tampered data)."""


def load_private_key(pem: str | bytes) -> RSA.RsaKey:
    """A PKCS#8 (or PKCS#1) RSA private key from PEM."""
    key = RSA.import_key(pem)
    if not key.has_private():
        raise ValueError("not a private key")
    return key


def load_public_key(pem: str | bytes) -> RSA.RsaKey:
    """An RSA public key from a PUBLIC KEY PEM or an X.509 CERTIFICATE PEM."""
    return RSA.import_key(pem).public_key()


def certificate_serial(pem: str | bytes) -> str:
    """The serial number of an X.509 certificate, upper-case hex (as WeChat Pay writes it)."""
    text = pem.decode() if isinstance(pem, bytes) else pem
    body = re.sub(r"-----[^-]+-----|\s", "", text)
    der = base64.b64decode(body)
    cert = DerSequence().decode(der)
    tbs = DerSequence().decode(cert[0])
    # TBSCertificate: [0] EXPLICIT version (absent for v1), then serialNumber INTEGER
    serial = tbs[1] if not isinstance(tbs[0], int) else tbs[0]
    return format(serial, "X")


def sign(key: RSA.RsaKey, message: str | bytes) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5) signature of `message`."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    return base64.b64encode(pkcs1_15.new(key).sign(SHA256.new(data))).decode("ascii")


def verify(key: RSA.RsaKey, message: str | bytes, signature: str) -> bool:
    """True when `signature` (Base64) is a SHA256withRSA signature of `message` by `key`."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    try:
        raw = base64.b64decode(signature, validate=True)
        pkcs1_15.new(key).verify(SHA256.new(data), raw)
    except (ValueError, TypeError):
        return False
    return True


def request_message(method: str, canonical_url: str, timestamp: str, nonce: str,
                    body: bytes | str) -> bytes:
    """The five-line string-to-sign of a request (each line ends in \\n)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return f"{method.upper()}\n{canonical_url}\n{timestamp}\n{nonce}\n".encode() + raw + b"\n"


def response_message(timestamp: str, nonce: str, body: bytes | str) -> bytes:
    """The three-line string-to-sign of a response or callback."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return f"{timestamp}\n{nonce}\n".encode() + raw + b"\n"


def authorization(mchid: str, serial_no: str, key: RSA.RsaKey, method: str, canonical_url: str,
                  timestamp: str, nonce: str, body: bytes | str) -> str:
    """The Authorization header value for one request."""
    signature = sign(key, request_message(method, canonical_url, timestamp, nonce, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_authorization(value: str) -> dict[str, str]:
    """The parameters of an Authorization header (for the sandbox server); raises SignatureInvalid."""
    schema, _, params = (value or "").strip().partition(" ")
    if schema != SCHEMA:
        raise SignatureInvalid("unsupported authorization schema")
    parsed = dict(_AUTH_PARAM.findall(params))
    missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - parsed.keys()
    if missing:
        raise SignatureInvalid(f"authorization lacks {sorted(missing)}")
    return parsed


def _serial_key(serial: str) -> str:
    """Certificate serials compare as numbers (case, leading zeros); public key ids as is."""
    serial = serial.strip()
    if serial.startswith(PUBLIC_KEY_ID_PREFIX):
        return serial
    try:
        return format(int(serial, 16), "X")
    except ValueError:
        return serial


@dataclass
class VerifierKeys:
    """WeChat Pay's verification keys by serial: 微信支付公钥 (PUB_KEY_ID_…) and/or platform certs.

    During a migration both are configured; each message is verified with the key its
    `Wechatpay-Serial` names (like wechatpay-go's combined verifier).
    """

    keys: dict[str, RSA.RsaKey] = field(default_factory=dict)

    def add_public_key(self, key_id: str, pem: str | bytes) -> None:
        if not key_id.startswith(PUBLIC_KEY_ID_PREFIX):
            raise ValueError("微信支付公钥 ids start with PUB_KEY_ID_")
        self.keys[key_id] = load_public_key(pem)

    def add_certificate(self, pem: str | bytes, serial: str | None = None) -> str:
        serial = serial or certificate_serial(pem)
        self.keys[_serial_key(serial)] = load_public_key(pem)
        return serial

    def has(self, serial: str) -> bool:
        return _serial_key(serial) in self.keys

    def verify(self, serial: str, timestamp: str, nonce: str, body: bytes | str,
               signature: str) -> None:
        """Raise SignatureInvalid unless the message verifies with the key named by `serial`."""
        if not signature or signature.startswith(SIGNTEST_PREFIX):
            raise SignatureInvalid("signature probe or missing signature")
        key = self.keys.get(_serial_key(serial or ""))
        if key is None:
            raise SignatureInvalid(f"unknown Wechatpay-Serial {serial!r}")
        if not verify(key, response_message(timestamp, nonce, body), signature):
            raise SignatureInvalid("signature does not verify")


def aead_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext_b64: str,
                 *, require_aes256: bool = True) -> bytes:
    """Decrypt an AEAD_AES_256_GCM resource (ciphertext ‖ 16-byte tag, Base64)."""
    if require_aes256 and len(key) != 32:
        raise DecryptFailed("the APIv3 key must be 32 bytes")
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce.encode("utf-8"))
        cipher.update((associated_data or "").encode("utf-8"))
        return cipher.decrypt_and_verify(data[:-16], data[-16:])
    except (ValueError, TypeError) as error:
        raise DecryptFailed("resource failed authentication") from error


def aead_encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """Encrypt a resource the way WeChat Pay does (used by the sandbox server)."""
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce.encode("utf-8"))
    cipher.update(associated_data.encode("utf-8"))
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return base64.b64encode(ciphertext + tag).decode("ascii")
