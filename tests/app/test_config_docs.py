"""The shipped example config and the README's reference agree with the schema, and the README
names the Debian packages scripts/dev installs."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

from pydantic import BaseModel

from recorder.config import Config, load_config
from tests.support import ROOT


def _section_model(annotation):
    """The model of a section, also for optional ones (`UploadSection | None`)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    raise TypeError(annotation)


def _schema_keys() -> set[str]:
    keys = set()
    for section, field in Config.model_fields.items():
        if section == "source":
            continue
        keys |= {f"{section}.{k}" for k in _section_model(field.annotation).model_fields}
    return keys


def test_example_config_loads_and_equals_the_defaults():
    cfg = load_config(ROOT / "docs" / "config.example.toml")
    optional = {"source", "upload", "mqtt", "transcript", "share", "control"}
    assert cfg.model_dump(exclude=optional) == Config().model_dump(exclude=optional)
    # the box's config names the socket the service makes, for `ctl` run from a shell too
    assert cfg.control.socket == Path("/run/session-recorder/control.sock")
    assert cfg.mqtt == type(cfg.mqtt)()  # the example [mqtt] shows the defaults
    assert cfg.transcript == type(cfg.transcript)()  # and [transcript] too
    shown = cfg.share.model_dump(exclude={"remote"})
    assert shown == type(cfg.share)(remote="x:y").model_dump(exclude={"remote"})
    # [upload] has no default remote; the example's values besides it are the defaults
    shown = cfg.upload.model_dump(exclude={"remote"})
    assert shown == type(cfg.upload)(remote="x:y").model_dump(exclude={"remote"})


def test_example_config_mentions_every_key():
    text = (ROOT / "docs" / "config.example.toml").read_text()
    data = tomllib.loads(text)
    present = {f"{s}.{k}" for s, values in data.items() for k in values}
    commented = {
        f"{section}.{k}"
        for section, k in (
            ("upload", "rclone_binary"),
            ("upload", "config_password_file"),
            ("upload", "bwlimit"),
            ("transcript", "model_dir"),
            ("share", "rclone_config"),
            ("share", "rclone_binary"),
            ("share", "config_password_file"),
            ("mqtt", "username"),
            ("mqtt", "password_file"),
            ("mqtt", "ca_file"),
            ("mqtt", "cert_file"),
            ("mqtt", "key_file"),
            ("mqtt", "client_id"),
            ("web", "tls_cert"),
            ("web", "tls_key"),
        )
        if f"# {k} =" in text
    }
    assert present | commented == _schema_keys()


def test_readme_documents_every_key():
    readme = (ROOT / "README.md").read_text()
    for key in _schema_keys():
        section, name = key.split(".")
        assert f"`[{section}] {name}`" in readme, key


def test_readme_lists_the_debian_packages_scripts_dev_installs():
    script = (ROOT / "scripts" / "dev").read_text()
    installed = set()
    for name in ("RUNTIME_DEBS", "TEST_DEBS"):
        [words] = re.findall(rf"^{name}=\(([^)]*)\)", script, re.MULTILINE)
        installed |= set(words.split())
    installed |= set(re.search(r"\|\| apt_install ([\w -]+)$", script, re.MULTILINE)[1].split())
    readme = (ROOT / "README.md").read_text()
    start = readme.index("`scripts/dev` installs the Debian packages it needs")
    listed = re.findall(r"`([^`]+)`", readme[start : readme.index("It creates `.venv`", start)])
    assert set(listed[1:]) == installed
