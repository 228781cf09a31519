"""Development keys of the sandbox channel, generated once into var/ (git-ignored).

Both sides of the sandbox read the same file: our client signs with the merchant key
and verifies with the platform public key; the sandbox server does the opposite. Real
RSA-2048 keys and a random 32-byte APIv3 key, so every signature is a real one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from Crypto.PublicKey import RSA

FILE_NAME = "wechatpay-sandbox.json"


@dataclass(frozen=True)
class SandboxKeys:
    mchid: str
    appid: str
    merchant_serial: str
    merchant_key_pem: str
    platform_key_pem: str
    public_key_id: str
    apiv3_key: str

    @property
    def merchant_public_pem(self) -> str:
        return RSA.import_key(self.merchant_key_pem).public_key().export_key().decode()

    @property
    def platform_public_pem(self) -> str:
        return RSA.import_key(self.platform_key_pem).public_key().export_key().decode()

    @classmethod
    def generate(cls) -> SandboxKeys:
        return cls(
            mchid="1900" + "".join(secrets.choice("0123456789") for _ in range(6)),
            appid="wxsandbox" + secrets.token_hex(4),
            merchant_serial=secrets.token_hex(20).upper(),
            merchant_key_pem=RSA.generate(2048).export_key(pkcs=8).decode(),
            platform_key_pem=RSA.generate(2048).export_key(pkcs=8).decode(),
            public_key_id="PUB_KEY_ID_" + secrets.token_hex(16).upper(),
            apiv3_key=secrets.token_urlsafe(24)[:32],
        )


def load_or_create(var_dir: Path) -> SandboxKeys:
    """The sandbox keys in `var_dir`, generated at first use (file mode 0600)."""
    path = var_dir / FILE_NAME
    if path.exists():
        return SandboxKeys(**json.loads(path.read_text()))
    keys = SandboxKeys.generate()
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys.__dict__, fh, indent=2)
    os.replace(tmp, path)
    return keys
