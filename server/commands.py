"""Domain subcommands of run.py (`@command`) and the lines `make run` prints at start.

Each domain registers its commands here, e.g. identity's `create-staff`.
"""

from __future__ import annotations

import argparse
from datetime import date

from server.cli import command
from server.settings import Settings


def announce_lines(settings: Settings) -> list[str]:
    """Extra start-up lines (e.g. demo credentials in development)."""
    lines = []
    if settings.development:
        base = settings.public_url
        lines.append(f"  门诊缴费       {base}/h5/bills   (run.py demo-bill --phone 138… 造一张待缴账单)")
        lines.append(f"  支付沙箱       {base}/sandbox/wechatpay   对账 {base}/admin/billing/reconciliation")
    return lines


def _reconcile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, help="YYYY-MM-DD (Asia/Shanghai)")
    parser.add_argument("--channel", default=None)


@command("reconcile", "download a day's trade bill and reconcile it now", _reconcile_args)
async def reconcile(services, args) -> int:
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
async def demo_bill(services, args) -> int:
    from services.billing.demo import create_demo_bill
    bill = await create_demo_bill(services, args.phone)
    print(f"bill {bill.id} ({bill.payable_fen / 100:.2f} 元) for {bill.patient_name}: "
          f"{services.settings.public_url}/h5/bills/{bill.id}")
    return 0
