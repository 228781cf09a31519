"""Request signers for the SMS gateways (pure functions, clock and nonce passed in).

Aliyun ACS3-HMAC-SHA256 (V3 signature):
    CanonicalRequest = METHOD \\n URI \\n Query \\n CanonicalHeaders \\n SignedHeaders \\n HashedPayload
    StringToSign     = "ACS3-HMAC-SHA256\\n" + hex(SHA256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
Tencent Cloud TC3-HMAC-SHA256:
    CanonicalRequest = METHOD \\n / \\n Query \\n CanonicalHeaders \\n SignedHeaders \\n hex(SHA256(payload))
    StringToSign     = "TC3-HMAC-SHA256\\n" ts \\n date/service/tc3_request \\n hex(SHA256(CanonicalRequest))
    key = HMAC(HMAC(HMAC("TC3"+SecretKey, date), service), "tc3_request")
Both sign the exact bytes sent: callers serialise once and send those bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rfc3986(value: str) -> str:
    """RFC 3986 percent-encoding (unreserved A-Za-z0-9-_.~ kept; space → %20, * → %2A)."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted, encoded `k=v` pairs joined by `&` (a param without value is `k=`)."""
    pairs = sorted((rfc3986(k), rfc3986(v if v is not None else "")) for k, v in params.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(`name:value\\n` lines sorted by lowercase name, `;`-joined names)."""
    items = sorted((k.lower().strip(), " ".join(str(v).split())) for k, v in headers.items())
    return "".join(f"{k}:{v}\n" for k, v in items), ";".join(k for k, _ in items)


# ---- Aliyun ACS3-HMAC-SHA256 ------------------------------------------------------------

ACS3 = "ACS3-HMAC-SHA256"


def acs3_canonical_request(method: str, canonical_uri: str, query: str,
                           signed: Mapping[str, str], hashed_payload: str) -> str:
    headers, names = canonical_headers(signed)
    return f"{method.upper()}\n{canonical_uri}\n{query}\n{headers}\n{names}\n{hashed_payload}"


def acs3_authorization(method: str, canonical_uri: str, query: str, signed: Mapping[str, str],
                       hashed_payload: str, access_key_id: str, secret: str) -> str:
    """The Authorization header for an ACS3 request whose signed headers are `signed`."""
    request = acs3_canonical_request(method, canonical_uri, query, signed, hashed_payload)
    to_sign = f"{ACS3}\n{sha256_hex(request.encode())}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    _, names = canonical_headers(signed)
    return f"{ACS3} Credential={access_key_id},SignedHeaders={names},Signature={signature}"


def acs3_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- Tencent Cloud TC3-HMAC-SHA256 -------------------------------------------------------

TC3 = "TC3-HMAC-SHA256"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    return _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")


def tc3_canonical_request(method: str, query: str, signed: Mapping[str, str],
                          payload: bytes) -> str:
    headers, names = canonical_headers(signed)
    return f"{method.upper()}\n/\n{query}\n{headers}\n{names}\n{sha256_hex(payload)}"


def tc3_string_to_sign(timestamp: int, service: str, canonical_request: str) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return (f"{TC3}\n{timestamp}\n{date}/{service}/tc3_request\n"
            f"{sha256_hex(canonical_request.encode())}")


def tc3_authorization(secret_id: str, secret_key: str, service: str, timestamp: int,
                      signed: Mapping[str, str], payload: bytes, method: str = "POST",
                      query: str = "") -> str:
    """The Authorization header of a TC3 request (signed headers: `signed`, e.g. content-type, host)."""
    request = tc3_canonical_request(method, query, signed, payload)
    to_sign = tc3_string_to_sign(timestamp, service, request)
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    signature = hmac.new(tc3_signing_key(secret_key, date, service), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    _, names = canonical_headers(signed)
    return (f"{TC3} Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders={names}, Signature={signature}")
