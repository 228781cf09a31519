"""Settings: `config/default.toml`, overridden by `PALM_*` environment variables.

Core settings are typed here. Each domain declares its own pydantic model for its
section and reads it with `settings.section("registration", RegistrationConfig)`, so
adding a business rule never touches this file: add the key to default.toml (and a
field with the same default to the domain's model).

Environment overrides: `PALM_<SECTION>_<KEY>` sets `[section] key` (the longest
matching section name wins), `PALM_<KEY>` sets a top-level key. Values arrive as
strings and are coerced by the pydantic models (`"5"` → 5, `"true"` → True; lists as
JSON). This module and `server/` are the only places that read the environment.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from server.embedded_db import embedded_uri

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "default.toml"


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    host: str = "127.0.0.1"
    port: int = 8888
    public_url: str = ""
    max_body_bytes: int = 1024 * 1024
    processes: int = 1
    # reverse proxies whose X-Real-Ip / X-Forwarded-For name the client (addresses or CIDRs)
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    # /metrics: only these client networks, or a request with `Authorization: Bearer
    # <metrics_token>` (PALM_HTTP_METRICS_TOKEN; empty = no token accepted). Issue 22 finding i.
    metrics_networks: list[str] = ["127.0.0.1/32", "::1/128"]
    metrics_token: str = ""
    api_docs_in_production: bool = False   # /api/docs and /api/openapi.json in production

    @field_validator("trusted_proxies", "metrics_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)     # ValueError names the bad entry
        return value

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies]

    def metrics_allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.metrics_networks]


class DbSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    engine: Literal["secantus", "mongoeco"] = "secantus"   # the embedded database's engine
    host: str = "127.0.0.1"
    port: int = 27018
    name: str = "palm"
    server_selection_timeout_ms: int = 3000


class Settings:
    """Validated core settings plus the raw tree that domain sections are read from."""

    def __init__(self, raw: Mapping[str, Any], mongodb_uri: str | None = None):
        self.raw: dict[str, Any] = copy.deepcopy(dict(raw))
        self.env: Literal["development", "production", "test"] = self.raw.get("env", "development")
        if self.env not in ("development", "production", "test"):
            raise ValueError(f"PALM_ENV must be development, production or test, not {self.env!r}")
        var_dir = Path(self.raw.get("var_dir", "var"))
        self.var_dir = var_dir if var_dir.is_absolute() else ROOT / var_dir
        self.hospital_name: str = self.raw.get("hospital_name", "掌上医院")
        self.log_level: str = str(self.raw.get("log_level", "INFO")).upper()
        self.http = HttpSettings.model_validate(self.raw.get("http", {}))
        self.db = DbSettings.model_validate(self.raw.get("db", {}))
        self.mongodb_uri = mongodb_uri or None

    @property
    def development(self) -> bool:
        """True in development and tests: dev inbox, generated secrets, relaxed cookies."""
        return self.env != "production"

    @property
    def embedded_db(self) -> bool:
        """True when no MONGODB_URI is given and `serve` starts its own database."""
        return self.mongodb_uri is None

    @property
    def database_uri(self) -> str:
        if self.mongodb_uri:
            return self.mongodb_uri
        return embedded_uri(self.db.host, self.db.port, self.db.engine)

    @property
    def public_url(self) -> str:
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        host = "127.0.0.1" if self.http.host in ("0.0.0.0", "::") else self.http.host
        return f"http://{host}:{self.http.port}"

    def section[M: BaseModel](self, name: str, model: type[M]) -> M:
        """The `[name]` section validated by a domain's model (defaults where absent)."""
        return model.model_validate(self.raw.get(name, {}))

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Settings":
        """A copy with dotted keys replaced, e.g. {"http.port": 0} (used by tests)."""
        raw = copy.deepcopy(self.raw)
        for dotted, value in overrides.items():
            _set_dotted(raw, dotted.split("."), value)
        return Settings(raw, mongodb_uri=self.mongodb_uri)


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path = DEFAULT_CONFIG
) -> Settings:
    """Read default.toml and apply PALM_* overrides from `environ` (default os.environ)."""
    environ = os.environ if environ is None else environ
    with config_file.open("rb") as fh:
        raw = tomllib.load(fh)
    sections = sorted((k for k, v in raw.items() if isinstance(v, dict)), key=len, reverse=True)
    for name, value in environ.items():
        if not name.startswith("PALM_") or name.startswith("PALM_SECRET_"):
            continue
        key = name[len("PALM_"):].lower()
        for section in sections:
            if key.startswith(section + "_"):
                raw[section][key[len(section) + 1:]] = _coerce(value)
                break
        else:
            raw[key] = _coerce(value)
    return Settings(raw, mongodb_uri=environ.get("MONGODB_URI") or None)


def _coerce(value: str) -> Any:
    """JSON lists/objects stay structured; everything else stays a string for pydantic."""
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return value


def _set_dotted(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
    tree[parts[-1]] = value
