"""Secrets: keys for field encryption, blind indexes, token signing and cookies.

Production reads them from the environment (never from config files):
    PALM_SECRET_DATA_KEYS     "sm4-gcm.k2:<base64 16 bytes>,k1:<base64 32 bytes>"  (the id's
                              prefix names the algorithm: sm4-gcm.…, aes-256-gcm.…, none = AES)
    PALM_SECRET_DATA_KEY_ID   id of the key new ciphertexts use (default: the first listed)
    PALM_SECRET_INDEX_KEY     base64, HMAC key of the blind indexes (never rotated casually)
    PALM_SECRET_SIGNING_KEY   base64, HMAC key of QR tokens and visit codes
    PALM_SECRET_COOKIE        cookie secret
Development and tests generate them once into `var/secrets.json` (git-ignored, 0600).
"""

from __future__ import annotations

import base64
import json
import os
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.crypto import AES_256_GCM, KEY_LENGTHS, SM4_GCM, new_key_id


@dataclass(frozen=True)
class Secrets:
    data_keys: dict[str, bytes]
    data_key_id: str
    index_key: bytes
    signing_key: bytes
    cookie_secret: str

    @classmethod
    def generate(cls, algorithm: str = AES_256_GCM) -> "Secrets":
        kid = new_key_id(algorithm, pysecrets.token_hex(4))
        return cls({kid: pysecrets.token_bytes(KEY_LENGTHS[algorithm])}, kid, pysecrets.token_bytes(32),
                   pysecrets.token_bytes(32), pysecrets.token_urlsafe(32))

    def to_json(self) -> dict:
        b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
        return {
            "data_keys": {kid: b64(key) for kid, key in self.data_keys.items()},
            "data_key_id": self.data_key_id,
            "index_key": b64(self.index_key),
            "signing_key": b64(self.signing_key),
            "cookie_secret": self.cookie_secret,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> "Secrets":
        return cls({kid: base64.b64decode(v) for kid, v in data["data_keys"].items()},
                   data["data_key_id"], base64.b64decode(data["index_key"]),
                   base64.b64decode(data["signing_key"]), data["cookie_secret"])

    def with_new_data_key(self, algorithm: str = SM4_GCM) -> "Secrets":
        """A copy with a fresh active data key; old keys stay for decryption (rotate-keys).

        The id names the algorithm (`sm4-gcm.…` by default: rotation moves data to 国密)."""
        kid = new_key_id(algorithm, pysecrets.token_hex(4))
        keys = {kid: pysecrets.token_bytes(KEY_LENGTHS[algorithm]), **self.data_keys}
        return Secrets(keys, kid, self.index_key, self.signing_key, self.cookie_secret)


def load_secrets(var_dir: Path, development: bool, environ: Mapping[str, str] | None = None) -> Secrets:
    environ = os.environ if environ is None else environ
    if environ.get("PALM_SECRET_DATA_KEYS"):
        keys = {}
        for part in environ["PALM_SECRET_DATA_KEYS"].split(","):
            kid, _, value = part.strip().partition(":")
            keys[kid] = base64.b64decode(value)
        return Secrets(keys, environ.get("PALM_SECRET_DATA_KEY_ID") or next(iter(keys)),
                       base64.b64decode(environ["PALM_SECRET_INDEX_KEY"]),
                       base64.b64decode(environ["PALM_SECRET_SIGNING_KEY"]),
                       environ["PALM_SECRET_COOKIE"])
    if not development:
        raise RuntimeError("production needs PALM_SECRET_DATA_KEYS, PALM_SECRET_INDEX_KEY, "
                           "PALM_SECRET_SIGNING_KEY and PALM_SECRET_COOKIE in the environment")
    path = var_dir / "secrets.json"
    if path.exists():
        return Secrets.from_json(json.loads(path.read_text()))
    created = Secrets.generate()
    save_dev_secrets(var_dir, created)
    return created


def save_dev_secrets(var_dir: Path, value: Secrets) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "secrets.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(value.to_json(), fh, indent=2)
    os.replace(tmp, path)
