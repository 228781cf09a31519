"""Domain subcommands of run.py (`@command`) and the lines `make run` prints at start.

Identity's commands:
    run.py create-staff --username li --name 李四 --roles admin,pharmacist [--password …]
    run.py create-device --kind kiosk --name 门诊大厅1号 [--campus main]
    run.py rotate-keys [--check] [--no-new-key] [--algorithm sm4-gcm] [--batch-size 500]
                    [--collections patients,accounts]
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
from datetime import date
from typing import TYPE_CHECKING

from server.cli import command
from server.secrets import save_dev_secrets
from server.settings import Settings

if TYPE_CHECKING:
    from server.container import Services

DEMO_STAFF = [("demo-admin", "演示管理员", ["admin"], "管理员"),
              ("demo-pharmacist", "演示药师", ["pharmacist"], "药师")]
DEMO_KIOSK = ("kiosk-demo", "kiosk", "演示自助机")


def _demo_secret(services: Services, purpose: str) -> str:
    """A development credential derived from this install's generated secrets (stable)."""
    mac = hmac.new(services.secrets.cookie_secret.encode(), f"demo:{purpose}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode()[:16]


async def announce_lines(settings: Settings, services: Services) -> list[str]:
    """Extra start-up lines: in development, seed and print demo staff and a kiosk key."""
    if not settings.development:
        return _report_lines(settings)
    lines = ["", "  演示账号（仅开发环境，每次启动确保存在）"]
    for username, name, roles, label in DEMO_STAFF:
        password = _demo_secret(services, username)
        await services.staff.ensure_staff(username, name, roles, password)
        lines.append(f"  {label.ljust(3, chr(0x3000))}  用户名 {username:<16} 密码 {password}")
    key_id, kind, name = DEMO_KIOSK
    secret = _demo_secret(services, key_id)
    await services.devices.ensure_device(key_id, kind, name, secret, "main")
    lines.append(f"  自助机  设备 X-Palm-Key-Id {key_id}  密钥 {secret}")
    lines.append(f"  患者登录验证码见 {settings.public_url}/dev/inbox")
    base = settings.public_url
    lines.append(f"  门诊缴费       {base}/h5/bills   (run.py demo-bill --phone 138… 造一张待缴账单)")
    lines.append(f"  支付沙箱       {base}/sandbox/wechatpay   对账 {base}/admin/billing/reconciliation")
    lines.append(f"  代煎工作站 {settings.public_url}/pharmacy/station"
                 "（药师账号见上；演示药袋: run.py demo-pharmacy）")
    lines.append(f"  管理后台       {base}/admin/schedules  {base}/admin/messages  "
                 f"{base}/admin/triage  医生工作站 {base}/station")
    return lines + _report_lines(settings)


def _report_lines(settings: Settings) -> list[str]:
    """The kiosk page and, if the CJK font for printed reports is missing, how to install it."""
    from pathlib import Path

    from services.reports import ReportsConfig

    lines = [f"  自助机页面     {settings.public_url}/kiosk （用上面的设备编号与密钥完成设置）"
             ] if settings.development else []
    font = settings.section("reports", ReportsConfig).pdf_font
    if not Path(font).exists():
        lines.append(f"  ⚠ 打印字体缺失 {font}: 报告打印将返回 503 pdf_font_missing；"
                     "run scripts/system-deps.sh (fonts-noto-cjk)")
    return lines


# ---- create-staff ----------------------------------------------------------------------

def _staff_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", required=True)
    parser.add_argument("--name", required=True, help="姓名（显示给患者时打码）")
    parser.add_argument("--roles", required=True, help="comma-separated: admin,pharmacist,...")
    parser.add_argument("--password", default=None, help="omit to be prompted (recommended)")
    parser.add_argument("--campus", default=None)


@command("create-staff", "create a staff account with roles", _staff_args)
async def create_staff(services: Services, args: argparse.Namespace) -> int:
    """Create a staff member; the password is prompted twice unless given."""
    password = args.password
    if password is None:
        password = getpass.getpass("密码 password: ")
        if getpass.getpass("再次输入 again: ") != password:
            print("两次输入的密码不一致 passwords differ")
            return 2
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    from services.errors import DomainError
    try:
        staff_id = await services.staff.create_staff(args.username, args.name, roles, password,
                                                     args.campus)
    except DomainError as error:
        print(f"{error.code}: {error.message}")
        return 2
    print(f"staff {args.username} created (id {staff_id}, roles {','.join(sorted(set(roles)))})")
    return 0


# ---- create-device ---------------------------------------------------------------------

def _device_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=["kiosk", "display", "his"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--campus", default=None)


@command("create-device", "register a kiosk, clinic display or HIS; prints its key once", _device_args)
async def create_device(services: Services, args: argparse.Namespace) -> int:
    """Register a device and print its key id and secret (shown only this once)."""
    key_id, secret = await services.devices.register(args.kind, args.name, args.campus)
    print(f"key id:  {key_id}\nsecret:  {secret}\n(the secret is shown only now; store it on the device)")
    return 0


# ---- rotate-keys -----------------------------------------------------------------------

def _rotate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="only count ciphertexts not under the active key (exit 1 if any)")
    parser.add_argument("--no-new-key", action="store_true",
                        help="re-encrypt under the current active key (production, step 3)")
    parser.add_argument("--collections", default=None, help="comma-separated; default: all")
    parser.add_argument("--algorithm", default="sm4-gcm", choices=["sm4-gcm", "aes-256-gcm"],
                        help="algorithm of the new key (development; default sm4-gcm)")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="documents per batch; progress is saved after each (resumable)")


@command("rotate-keys", "re-encrypt personal data under a new data key (docs/KEY_ROTATION.md)",
         _rotate_args)
async def rotate_keys(services: Services, args: argparse.Namespace) -> int:
    """Development: add a new active key to var/secrets.json, then re-encrypt everything.

    Production (keys from PALM_SECRET_DATA_KEYS): only `--no-new-key` / `--check`; the new
    key is rolled out through the environment first (docs/KEY_ROTATION.md).
    """
    from services.crypto import FieldCipher
    from services.keyrotation import KeyRotation

    collections = [c.strip() for c in args.collections.split(",")] if args.collections else None
    secrets = services.secrets
    if args.check:
        pending = await KeyRotation(services.db, services.cipher).pending(collections)
        print(f"active key {secrets.data_key_id}; not yet under it: {pending or 'none'}")
        return 1 if pending else 0
    if not args.no_new_key:
        if os.environ.get("PALM_SECRET_DATA_KEYS") or not services.settings.development:
            print("keys come from PALM_SECRET_DATA_KEYS: add the new key there and make it active "
                  "first (docs/KEY_ROTATION.md), then run `rotate-keys --no-new-key`")
            return 2
        secrets = secrets.with_new_data_key(getattr(args, "algorithm", "sm4-gcm"))
        save_dev_secrets(services.settings.var_dir, secrets)
        print(f"new active data key {secrets.data_key_id} written to "
              f"{services.settings.var_dir / 'secrets.json'} (old keys kept for reading)")
    cipher = FieldCipher(secrets.data_keys, secrets.data_key_id, secrets.index_key)
    rotation = KeyRotation(services.db, cipher, batch_size=getattr(args, "batch_size", 500))
    report = await rotation.rotate(collections)
    print(f"re-encrypted {report.total} values: {report.reencrypted or 'nothing to do'}; "
          f"{report.conflicts} changed meanwhile")
    if report.unreadable:
        print(f"could not decrypt {len(report.unreadable)} values (left as they were): "
              f"{', '.join(report.unreadable[:10])}")
        return 1
    if not args.no_new_key:
        print("restart running servers so they read the new key (development)")
    return 0


# ---- billing: reconcile, demo-bill -----------------------------------------------------

def _reconcile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, help="YYYY-MM-DD (Asia/Shanghai)")
    parser.add_argument("--channel", default=None)


@command("reconcile", "download a day's trade bill and reconcile it now", _reconcile_args)
async def reconcile(services: Services, args: argparse.Namespace) -> int:
    """Reconcile one day against the channel's trade bill and print the summary."""
    report = await services.billing.reconcile(date.fromisoformat(args.date), args.channel)
    print(f"{report.date} {report.channel}: matched {report.matched}, "
          f"missing at channel {len(report.missing_at_channel)}, "
          f"missing locally {len(report.missing_locally)}, "
          f"amount differences {len(report.amount_mismatch)}")
    return 0


def _demo_bill_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phone", required=True, help="the patient account's phone")


@command("demo-bill", "development: an unpaid 诊间 bill for the account's first family member",
         _demo_bill_args)
async def demo_bill(services: Services, args: argparse.Namespace) -> int:
    """Create a bill to pay in the sandbox (development only)."""
    from services.billing.demo import create_demo_bill
    bill = await create_demo_bill(services, args.phone)
    print(f"bill {bill.id} ({bill.payable_fen / 100:.2f} 元) for {bill.patient_name}: "
          f"{services.settings.public_url}/h5/bills/{bill.id}")
    return 0


# ---- demo-pharmacy ---------------------------------------------------------------------

@command("demo-pharmacy", "中药代煎演示：几袋处于不同环节的处方（及一个药房主管账号）")
async def demo_pharmacy(services: Services, args: argparse.Namespace) -> int:
    """Create today's demo bags and a supervisor; print the credentials and progress links."""
    from services.pharmacy.demo import seed_pharmacy_demo

    result = await seed_pharmacy_demo(services)
    for role, username, password in result["accounts"]:
        print(f"{role:<20} 用户名 {username}  密码 {password}")
    for rx_no, stage, url in result["bags"]:
        print(f"{rx_no}  {stage:<4}  {url}")
    return 0
