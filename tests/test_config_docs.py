"""The shipped example config and the README's reference agree with the schema."""

from __future__ import annotations

import tomllib
from pathlib import Path

from recorder.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent


def _schema_keys() -> set[str]:
    keys = set()
    for section, field in Config.model_fields.items():
        if section == "source":
            continue
        keys |= {f"{section}.{k}" for k in field.annotation.model_fields}
    return keys


def test_example_config_loads_and_equals_the_defaults():
    cfg = load_config(ROOT / "docs" / "config.example.toml")
    assert cfg.model_dump(exclude={"source"}) == Config().model_dump(exclude={"source"})


def test_example_config_mentions_every_key():
    text = (ROOT / "docs" / "config.example.toml").read_text()
    data = tomllib.loads(text)
    present = {f"{s}.{k}" for s, values in data.items() for k in values}
    commented = {f"control.{k}" for k in ("socket",) if f"# {k} =" in text}
    assert present | commented == _schema_keys()


def test_readme_documents_every_key():
    readme = (ROOT / "README.md").read_text()
    for key in _schema_keys():
        section, name = key.split(".")
        assert f"`[{section}] {name}`" in readme, key
