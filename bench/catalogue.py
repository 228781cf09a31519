"""Catalogue reads (department tree, doctors) through 1 and 2 app processes, against the
bare database reads and Tornado's own ceiling measured in the same run.

    python bench/catalogue.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import AsyncMongoClient  # noqa: E402

from bench.common import (  # noqa: E402
    app_processes, hammer, measure_ceiling, private_database, ratio, report, time_ops, tornado_ceiling,
)

TOTAL, CONCURRENCY = 2000, 32


async def bare_reads(uri: str):
    client = AsyncMongoClient(uri, tz_aware=True)
    db = client["palm"]

    async def op(i: int):
        await db.departments.find({"active": {"$ne": False}}).sort([("order", 1)]).to_list()

    stats = await time_ops("bare department find", op, TOTAL, CONCURRENCY)
    await client.close()
    return stats


def main() -> None:
    print("catalogue: GET /api/v1/departments")
    with private_database() as database:
        for processes in (1, 2):
            with tornado_ceiling(processes) as ceiling_url:
                ceiling = asyncio.run(measure_ceiling(ceiling_url))
            with app_processes(database.uri, processes) as url:  # seeds the demo when empty
                stats = asyncio.run(hammer(f"departments x{processes} proc",
                                           lambda c, i: c.get("/api/v1/departments"),
                                           TOTAL, CONCURRENCY, base_url=url))
            bare = asyncio.run(bare_reads(database.uri))
            report("catalogue", stats, vs_db=ratio(stats, bare), vs_tornado=ratio(stats, ceiling))
            report("catalogue", ceiling, processes=processes)


if __name__ == "__main__":
    main()
