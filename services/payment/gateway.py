"""The configured payment channels, by name, and where callbacks come back to.

`wechat` is WeChat Pay itself; `sandbox` is the local APIv3 server of development. Both
are `WechatPayClient`s: the billing service never knows which one it talks to, except
that the sandbox has a cashier page instead of WeixinJSBridge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from services.errors import BusinessRuleViolation
from services.payment.client import WechatPayClient, WechatPayCredentials
from services.payment.notify import CallbackVerifier


class WechatPayConfig(BaseModel):
    """`[wechatpay]`: the merchant (secrets come from the environment, see server/payment.py)."""

    model_config = ConfigDict(extra="ignore")
    enabled: bool = False
    mchid: str = ""
    appid: str = ""
    merchant_serial: str = ""
    public_key_id: str = ""            # 微信支付公钥 id (PUB_KEY_ID_…), recommended
    public_key_file: str = ""          # its PEM
    platform_cert_files: list[str] = []  # platform certificates (older merchants)
    base_url: str = "https://api.mch.weixin.qq.com"
    notify_base_url: str = ""          # https://… where /callbacks/wechatpay/* is reachable
    sandbox: bool = True               # development only: the local sandbox channel
    sandbox_refund_delay_seconds: float = 0.2
    max_skew_seconds: int = 300


@dataclass
class PaymentChannel:
    name: str
    label: str
    client: WechatPayClient
    cashier_base: str | None = None     # sandbox: <base>/cashier/<prepay_id>

    @property
    def creds(self) -> WechatPayCredentials:
        return self.client.creds


@dataclass
class PaymentGateway:
    channels: dict[str, PaymentChannel] = field(default_factory=dict)
    notify_base_url: str = ""
    verifier: CallbackVerifier | None = None

    def get(self, name: str) -> PaymentChannel:
        """The channel by name, or 422 payment_channel_unknown."""
        channel = self.channels.get(name)
        if channel is None:
            raise BusinessRuleViolation("payment_channel_unknown", "暂不支持该支付方式",
                                        details={"channels": sorted(self.channels)})
        return channel

    def notify_url(self, kind: str) -> str:
        return f"{self.notify_base_url.rstrip('/')}/callbacks/wechatpay/{kind}"

    async def refresh_certificates(self) -> None:
        """Download every channel's platform certificates (a callback named an unknown serial)."""
        for channel in self.channels.values():
            await channel.client.refresh_certificates()

    def credentials(self) -> Mapping[str, WechatPayCredentials]:
        return {name: ch.creds for name, ch in self.channels.items()}
