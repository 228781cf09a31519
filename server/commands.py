"""Domain subcommands of run.py (`@command`) and the lines `make run` prints at start.

Each domain registers its commands here, e.g. identity's `create-staff`.
"""

from __future__ import annotations

from server.cli import command
from server.settings import Settings


def announce_lines(settings: Settings) -> list[str]:
    """Extra start-up lines (e.g. demo credentials in development)."""
    lines: list[str] = []
    lines.append(f"  代煎工作站     {settings.public_url}/pharmacy/station  (演示账号: run.py demo-pharmacy)")
    return lines


@command("demo-pharmacy", "中药代煎演示：药师与主管账号、几袋不同环节的处方")
async def demo_pharmacy(services, args) -> int:
    """Print new demo staff credentials and today's demo bags with their progress links."""
    from services.pharmacy.demo import seed_pharmacy_demo

    result = await seed_pharmacy_demo(services)
    for role, username, password in result["accounts"]:
        print(f"{role:<20} 用户名 {username}  密码 {password}")
    for rx_no, stage, url in result["bags"]:
        print(f"{rx_no}  {stage:<4}  {url}")
    return 0
