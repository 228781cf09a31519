#!/usr/bin/env python3
"""Print the README settings rows for every key in config/default.toml (default and the
comment beside it), so the README table can be regenerated when a feature adds settings:

    python scripts/settings_table.py [SECTION ...]
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.toml"


def comments() -> dict[str, str]:
    found, section = {}, ""
    for line in CONFIG.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^\[([\w.]+)\]", line):
            section = m.group(1)
        elif m := re.match(r"^(\w+)\s*=.*?#\s*(.+)$", line):
            found[f"{section}.{m.group(1)}" if section else m.group(1)] = m.group(2).strip()
    return found


def rows(sections: list[str]) -> list[str]:
    tree = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    notes = comments()
    out = []
    for section, values in tree.items():
        if not isinstance(values, dict) or (sections and section not in sections):
            continue
        for key, value in values.items():
            dotted = f"{section}.{key}"
            default = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
            meaning = notes.get(dotted, "").replace("|", "\\|")
            out.append(f"| `{dotted}` | `PALM_{section.upper()}_{key.upper()}` | `{default}` | {meaning} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows(sys.argv[1:])))
