"""The README is the newcomer's first page: the two commands first, every setting named."""

from __future__ import annotations

import json
import tomllib

from server.settings import DEFAULT_CONFIG, ROOT, load_settings

README = (ROOT / "README.md").read_text(encoding="utf-8")


def documented_settings() -> list[tuple[str, str]]:
    """(`section.key` or `key`, PALM_ variable) for every key in config/default.toml."""
    with DEFAULT_CONFIG.open("rb") as fh:
        raw = tomllib.load(fh)
    found = []
    for name, value in raw.items():
        if isinstance(value, dict):
            found.extend((f"{name}.{key}", f"PALM_{name}_{key}".upper()) for key in value)
        else:
            found.append((name, f"PALM_{name}".upper()))
    return found


def test_readme_starts_with_the_two_commands():
    lines = [line for line in README.splitlines() if line.strip()]
    assert lines[0].startswith("```")
    assert lines[1].split()[:2] == ["make", "run"]
    assert lines[2].split()[:2] == ["make", "test"]
    assert lines[3] == "```"


def test_readme_names_every_setting_with_its_variable():
    missing = [f"| `{key}` | `{variable}` |" for key, variable in documented_settings()
               if f"`{key}`" not in README or f"`{variable}`" not in README]
    assert not missing, "add these rows to README.md ## Settings:\n" + "\n".join(missing)


CHOICES = {"db.engine": "mongoeco"}   # settings that take one of a few values: another one


def test_each_documented_variable_really_sets_its_setting():
    with DEFAULT_CONFIG.open("rb") as fh:
        raw = tomllib.load(fh)
    for key, variable in documented_settings():
        if "." not in key:
            continue
        section, name = key.split(".", 1)
        default = raw[section][name]
        match default:
            case bool():
                probe, expected = str(not default).lower(), str(not default).lower()
            case int() | float():
                probe = expected = str(default + 1)
            case list() | dict():
                probe, expected = json.dumps(default), default
            case _ if key in CHOICES:
                probe = expected = CHOICES[key]
            case _:
                probe = expected = f"{default}-probe"
        settings = load_settings(environ={variable: probe})
        assert settings.raw[section][name] == expected, variable
