#!/usr/bin/env python3
"""First-boot provisioning: one settings file on the boot partition becomes the box's settings.

The user edits `session-recorder.txt` on the boot partition (FAT: any computer can write it).
At boot, before NetworkManager and the recorder start, this script

1. reads and checks the whole file. On any problem it writes `session-recorder-error.txt`
   beside it, naming each bad line and key, and changes nothing at all;
2. writes /etc/session-recorder/config.toml (`[device] id`, `[mqtt]`, `[upload]`; everything
   else in an existing file is kept, comments included), the secrets (mqtt.pass, dashboard.pass,
   rclone.conf)
   mode 0640 root:session-recorder (0600 when that group does not exist yet), a NetworkManager
   profile for the Wi-Fi (0600), the Wi-Fi country and the time zone;
3. writes `session-recorder-provisioned.txt` (no secrets in it), then overwrites the settings
   file, and an rclone.conf placed beside it, with zeros and deletes them: FAT has no
   permissions, so secrets must not stay there.

It also makes this box's own broker passwords (the daemon's and the phone dashboard's) at its
first start, when the image left the marker /etc/session-recorder/first-boot-secrets: an image
is flashed onto many boxes, so passwords made while building it would be the same on all of
them. `dashboard_password` in the settings file chooses the dashboard's. And when `device_id`
changes, it renders the broker's ACL again from the installed template, so the dashboard may
still read the box's topics under its new name.

Every write is atomic (temporary file, fsync, rename) and the settings file goes last, so a
power cut half-way through just runs the same provisioning again at the next boot.

It runs on the system python3 with the standard library only, not in the recorder's venv: it
must work on the very first boot of a fresh image, whatever state the venv is in, and it can
check a settings file on any computer (`--check`).

    python3 provision.py [--boot DIR] [--root DIR] [--rclone PATH] [--check]
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import copy
import difflib
import json
import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_NAMES = ("session-recorder.txt", "session-recorder.txt.txt")  # Windows hides ".txt"
ERROR_NAME = "session-recorder-error.txt"
RECEIPT_NAME = "session-recorder-provisioned.txt"
RCLONE_BLOCK = "[rclone.conf]"  # everything below this line is an rclone.conf, verbatim
GROUP = "session-recorder"
CRYPT_REMOTE = "secret"

CONF_DIR = Path("/etc/session-recorder")
CONFIG = CONF_DIR / "config.toml"
MQTT_PASS = CONF_DIR / "mqtt.pass"
DASH_PASS = CONF_DIR / "dashboard.pass"
SECRETS_MARKER = CONF_DIR / "first-boot-secrets"  # left by install.sh in an image
MQ_PASSWD = Path("/etc/mosquitto/session-recorder.passwd")
MQ_ACL = Path("/etc/mosquitto/session-recorder.acl")
ACL_TEMPLATE = Path("/usr/share/session-recorder/mosquitto/session-recorder.acl")
MQ_GROUP = "mosquitto"
RCLONE_CONF = CONF_DIR / "rclone.conf"
NM_PROFILE = Path("/etc/NetworkManager/system-connections/session-recorder-wifi.nmconnection")
NM_STATE = Path("/var/lib/NetworkManager/NetworkManager.state")
RFKILL_DIR = Path("/var/lib/systemd/rfkill")
REGDOM_CONF = Path("/etc/modprobe.d/session-recorder-regdom.conf")
ZONEINFO = Path("/usr/share/zoneinfo")

# Every key the settings file may hold, and whether its value is a secret (never echoed in an
# error, never in the receipt).
KEYS: dict[str, bool] = {
    "device_id": False,
    "timezone": False,
    "wifi_ssid": False,
    "wifi_password": True,
    "wifi_country": False,
    "wifi_hidden": False,
    "mqtt_host": False,
    "mqtt_port": False,
    "mqtt_username": False,
    "mqtt_password": True,
    "mqtt_tls": False,
    "upload_remote": False,
    "rclone_conf": False,
    "crypt_password": True,
    "crypt_password2": True,
    "dashboard_password": True,
}

DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as [device] id in recorder/config.py
SAFE_RCLONE = re.compile(r"^[A-Za-z0-9_./:@+=,%-]+$")  # as recorder/config.py: no shell surprises
TIMEZONE = re.compile(r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+){0,2}$")
HOSTNAME = re.compile(r"^[A-Za-z0-9._:\[\]-]{1,253}$")
TRUE, FALSE = ("yes", "true", "on", "1"), ("no", "false", "off", "0")


class Rejected(Exception):
    """The settings file cannot be used; each argument is one problem for the user."""


@dataclass
class Settings:
    values: dict[str, str] = field(default_factory=dict)  # non-empty values only
    lines: dict[str, int] = field(default_factory=dict)
    rclone_text: str | None = None
    rclone_line: int = 0

    def where(self, key: str) -> str:
        if key == RCLONE_BLOCK:
            return f"line {self.rclone_line}, {RCLONE_BLOCK}"
        line = self.lines.get(key)
        return f"line {line}, {key}" if line else key

    def shown(self, key: str) -> str:
        """The value for an error message, unless it is a secret."""
        return "" if KEYS.get(key, True) else f" (got {self.values.get(key, '')!r})"


@dataclass
class Write:
    path: Path  # absolute, already under --root or --boot
    data: bytes
    mode: int | None  # None on the FAT boot partition, which refuses most chmods
    gid: int | None = None  # None: leave the group alone


@dataclass
class Plan:
    dirs: list[tuple[Path, int, int | None]] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    symlinks: list[tuple[Path, str]] = field(default_factory=list)
    shred: list[Path] = field(default_factory=list)  # boot-partition files holding secrets
    summary: list[tuple[str, str]] = field(default_factory=list)  # for the receipt: no secrets
    live: list[list[str]] = field(default_factory=list)  # only when provisioning the running box
    remove: list[Path] = field(default_factory=list)  # after every write has landed


# --- reading the settings file ---------------------------------------------------------------


def decode(raw: bytes) -> str:
    """Text as Notepad and friends save it: UTF-8 (with or without BOM) or UTF-16."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Rejected(
            f"the file is not UTF-8 text (byte {exc.start}): save it as UTF-8 "
            "(Notepad: File > Save as > Encoding: UTF-8)"
        ) from None


def read_settings(raw: bytes) -> tuple[Settings, list[str]]:
    s, problems = Settings(), []
    try:
        text = decode(raw)
    except Rejected as exc:
        return s, [str(exc)]
    lines = text.splitlines()
    for n, raw_line in enumerate(lines, 1):
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.lower() == RCLONE_BLOCK:
            s.rclone_line = n
            s.rclone_text = "\n".join(lines[n:]).strip("\n") + "\n"
            break
        if "=" not in line:
            problems.append(f"line {n}: expected 'key = value', found {line[:40]!r}")
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]  # quotes are allowed, not needed
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"line {n}: unknown key '{key}'{hint}")
            continue
        if key in s.lines:
            problems.append(f"line {n}, {key}: given twice (first on line {s.lines[key]})")
            continue
        s.lines[key] = n
        if value:
            s.values[key] = value
    return s, problems


# --- checking it and working out every change ------------------------------------------------


def under(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def group_id(root: Path, name: str = GROUP) -> int | None:
    """The gid of `name` in the target system's /etc/group (not this machine's)."""
    try:
        for line in under(root, Path("/etc/group")).read_text().splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[0] == name and parts[2].isdigit():
                return int(parts[2])
    except OSError:
        pass
    return None


def zoneinfo_dir(root: Path) -> Path | None:
    for candidate in (under(root, ZONEINFO), ZONEINFO):
        if candidate.is_dir():
            return candidate
    return None


def parse_bool(s: Settings, key: str, default: bool, problems: list[str]) -> bool:
    value = s.values.get(key)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    problems.append(f"{s.where(key)}: must be yes or no{s.shown(key)}")
    return default


def plan_wifi(s: Settings, boot: Path, root: Path, plan: Plan, problems: list[str]) -> None:
    ssid = s.values.get("wifi_ssid")
    if not ssid:
        for key in ("wifi_password", "wifi_country", "wifi_hidden"):
            if key in s.values:
                problems.append(f"{s.where(key)}: needs wifi_ssid (the network's name)")
        return
    password = s.values.get("wifi_password")
    country = s.values.get("wifi_country", "").upper()
    found = wifi_problems(s, root, ssid, password, country)
    problems.extend(found)
    hidden = parse_bool(s, "wifi_hidden", False, problems)
    if found:
        return
    nm_dir = under(root, NM_PROFILE.parent)
    plan.dirs.append((nm_dir, 0o755, None))
    plan.writes.append(Write(nm_dir / NM_PROFILE.name, nm_profile(ssid, password, hidden), 0o600))
    plan_regulatory_domain(boot, root, country, plan)
    plan_radio_on(root, plan)
    plan.live += [["rfkill", "unblock", "wifi"], ["iw", "reg", "set", country]]
    extra = ", hidden" if hidden else ""
    extra += ", open network" if password is None else ""
    plan.summary.append(("wi-fi", f'"{ssid}" (country {country}{extra})'))


def wifi_problems(
    s: Settings, root: Path, ssid: str, password: str | None, country: str
) -> list[str]:
    """What is wrong with the network's name, password and country, in the file's order."""
    problems = []
    if not 1 <= len(ssid.encode()) <= 32 or not ssid.isprintable():
        problems.append(f"{s.where('wifi_ssid')}: a network name is 1 to 32 bytes of text")
    if password is not None:
        hex_key = re.fullmatch(r"[0-9A-Fa-f]{64}", password) is not None
        printable = all(" " <= c <= "~" for c in password)
        if not hex_key and not (8 <= len(password) <= 63 and printable):
            problems.append(
                f"{s.where('wifi_password')}: a WPA password is 8 to 63 characters "
                f"(letters, digits, punctuation; it has {len(password)})"
            )
    if not country:
        problems.append(
            f"{s.where('wifi_ssid')}: needs wifi_country, the two-letter code of the country "
            "the box is used in (GB, US, DE, ...): the Wi-Fi stays off without it"
        )
    elif not valid_country(root, country):
        hint = " (the United Kingdom is GB)" if country == "UK" else ""
        problems.append(
            f"{s.where('wifi_country')}: not a two-letter country code{hint}{s.shown('wifi_country')}"
        )
    return problems


def nm_profile(ssid: str, password: str | None, hidden: bool) -> bytes:
    """A NetworkManager keyfile (Bookworm manages Wi-Fi with NetworkManager). The uuid is fixed,
    so provisioning again replaces the profile rather than adding one."""
    profile = [
        "# Written by Session Recorder's first-boot provisioning (session-recorder.txt).",
        "[connection]",
        "id=session-recorder-wifi",
        f"uuid={uuid.uuid5(uuid.NAMESPACE_URL, 'session-recorder:wifi')}",
        "type=wifi",
        "autoconnect=true",
        "# keep trying for ever: a router that reboots must not leave the box offline",
        "autoconnect-retries=0",
        "",
        "[wifi]",
        "mode=infrastructure",
        f"ssid={keyfile_ssid(ssid)}",
    ]
    if hidden:
        profile.append("hidden=true")
    if password is not None:
        profile += ["", "[wifi-security]", "key-mgmt=wpa-psk", f"psk={keyfile_escape(password)}"]
    profile += ["", "[ipv4]", "method=auto", "", "[ipv6]", "method=auto", "addr-gen-mode=default"]
    return lines(profile)


def plan_regulatory_domain(boot: Path, root: Path, country: str, plan: Plan) -> None:
    """On the kernel command line, as raspi-config does; without one the Pi keeps its Wi-Fi
    blocked. A boot partition without cmdline.txt gets it as a module option instead."""
    cmdline = boot / "cmdline.txt"
    if cmdline.is_file():
        tokens = [
            t
            for t in cmdline.read_text(errors="surrogateescape").split()
            if not t.startswith("cfg80211.ieee80211_regdom=")
        ]
        tokens.append(f"cfg80211.ieee80211_regdom={country}")
        data = (" ".join(tokens) + "\n").encode(errors="surrogateescape")
        plan.writes.append(Write(cmdline, data, None))
    else:
        conf = under(root, REGDOM_CONF)
        plan.dirs.append((conf.parent, 0o755, None))
        plan.writes.append(
            Write(conf, lines([f"options cfg80211 ieee80211_regdom={country}"]), 0o644)
        )


def plan_radio_on(root: Path, plan: Plan) -> None:
    """pi-gen images built without a country tell NetworkManager to keep Wi-Fi off; undo that,
    and the saved rfkill state, so the radio comes up at every boot."""
    state = under(root, NM_STATE)
    if state.is_file():
        plan.writes.append(Write(state, wireless_enabled(state.read_text()), 0o644))
    rfkill = under(root, RFKILL_DIR)
    if rfkill.is_dir():
        for saved in sorted(rfkill.glob("*:wlan")):
            plan.writes.append(Write(saved, b"0\n", 0o644))


def valid_country(root: Path, code: str) -> bool:
    if not re.fullmatch(r"[A-Z]{2}", code):
        return False
    zones = zoneinfo_dir(root)
    table = zones / "iso3166.tab" if zones else None
    if table is None or not table.is_file():
        return True
    return any(line.startswith(code + "\t") for line in table.read_text().splitlines())


def keyfile_ssid(ssid: str) -> str:
    """The SSID as text when that reads back unchanged, else as NetworkManager's byte list."""
    plain = (
        ssid == ssid.strip() and not set(ssid) & set(";\\") and not re.fullmatch(r"[0-9\s]*", ssid)
    )
    return ssid if plain else "".join(f"{b};" for b in ssid.encode())


def keyfile_escape(value: str) -> str:
    # GKeyFile string escapes: a backslash, and spaces (leading and trailing ones would be lost).
    return value.replace("\\", "\\\\").replace(" ", "\\s")


def wireless_enabled(text: str) -> bytes:
    out = [
        "WirelessEnabled=true" if ln.strip().startswith("WirelessEnabled=") else ln
        for ln in text.splitlines()
    ]
    if "WirelessEnabled=true" not in out:
        stripped = [ln.strip() for ln in out]
        if "[main]" in stripped:
            out.insert(stripped.index("[main]") + 1, "WirelessEnabled=true")
        else:
            out += ["[main]", "WirelessEnabled=true"]
    return lines(out)


def plan_mqtt(
    s: Settings, root: Path, gid: int | None, plan: Plan, problems: list[str]
) -> dict | None:
    host = s.values.get("mqtt_host")
    if not host:
        for key in ("mqtt_port", "mqtt_username", "mqtt_password", "mqtt_tls"):
            if key in s.values:
                problems.append(f"{s.where(key)}: needs mqtt_host (the broker's name or address)")
        return None
    section: dict[str, object] = {"host": host}
    if not HOSTNAME.match(host):
        problems.append(f"{s.where('mqtt_host')}: not a host name or address{s.shown('mqtt_host')}")
    tls = parse_bool(s, "mqtt_tls", False, problems)
    port = 8883 if tls else 1883
    if "mqtt_port" in s.values:
        text = s.values["mqtt_port"]
        if text.isdigit() and 1 <= int(text) <= 65535:
            port = int(text)
        else:
            problems.append(
                f"{s.where('mqtt_port')}: must be a whole number from 1 to 65535"
                f"{s.shown('mqtt_port')}"
            )
    section["port"] = port
    section["tls"] = tls
    username, password = s.values.get("mqtt_username"), s.values.get("mqtt_password")
    if username is not None:
        if not username.isprintable():
            problems.append(f"{s.where('mqtt_username')}: must be plain text")
        section["username"] = username
    if password is not None:
        if username is None:
            problems.append(f"{s.where('mqtt_password')}: needs mqtt_username")
        elif not password.isprintable():
            problems.append(f"{s.where('mqtt_password')}: must be plain text")
        path = under(root, MQTT_PASS)
        plan.writes.append(Write(path, lines([password]), secret_mode(gid), gid))
        section["password_file"] = str(MQTT_PASS)
    plan.summary.append(("mqtt", f"{host}:{port}" + (", TLS" if tls else "")))
    return section


def plan_upload(
    s: Settings,
    boot: Path,
    root: Path,
    gid: int | None,
    rclone: str | None,
    check_only: bool,
    plan: Plan,
    problems: list[str],
) -> dict | None:
    remote = upload_remote(s, problems)
    if remote is None:
        return None
    existing = under(root, RCLONE_CONF)
    try:
        text, source = given_rclone_conf(s, boot)
        conf_text = text if text is not None else box_rclone_conf(s, existing)
        remotes = rclone_remotes(s, conf_text, remote.split(":", 1)[0])
    except Rejected as exc:
        problems.append(str(exc))
        return None

    result = {"remote": remote, "rclone_config": str(RCLONE_CONF)}
    summary = remote
    first, second = s.values.get("crypt_password"), s.values.get("crypt_password2")
    if second and not first:
        problems.append(f"{s.where('crypt_password2')}: needs crypt_password")
    if first:
        crypt = crypt_remote(s, remote, remotes, rclone, check_only, problems)
        if crypt is None:
            return None
        conf_text = conf_text.rstrip("\n") + "\n\n" + crypt
        result["remote"] = f"{CRYPT_REMOTE}:"
        summary = f"{CRYPT_REMOTE}: (encrypted with rclone crypt, over {remote})"
    if text is not None or first:
        plan.writes.append(Write(existing, conf_text.encode(), secret_mode(gid), gid))
    if source is not None:
        plan.shred.append(source)
    plan.summary.append(("upload", summary))
    return result


def upload_remote(s: Settings, problems: list[str]) -> str | None:
    """upload_remote when it is given and looks like name:path; the keys that need it are
    problems without it."""
    given = [k for k in ("rclone_conf", "crypt_password", "crypt_password2") if k in s.values]
    if s.rclone_text is not None:
        given.append(RCLONE_BLOCK)
    remote = s.values.get("upload_remote")
    if not remote:
        for key in given:
            problems.append(f"{s.where(key)}: needs upload_remote (e.g. box:recordings)")
        return None
    name = remote.split(":", 1)[0]
    if not SAFE_RCLONE.match(remote) or remote.startswith("-") or ":" not in remote or not name:
        problems.append(
            f"{s.where('upload_remote')}: must look like name:path, the name of a remote in the "
            f"rclone config, using only letters, digits and _./:@+=,%-{s.shown('upload_remote')}"
        )
        return None
    return remote


def given_rclone_conf(s: Settings, boot: Path) -> tuple[str | None, Path | None]:
    """The rclone config given with the settings and the file it came from: a file beside this
    one, or the text pasted below [rclone.conf] (no file); (None, None) when neither, so the box
    keeps the one it has. Rejected: the one problem that stops the upload settings."""
    if "rclone_conf" in s.values and s.rclone_text is not None:
        raise Rejected(f"{s.where('rclone_conf')}: give rclone_conf or {RCLONE_BLOCK}, not both")
    if "rclone_conf" not in s.values:
        return s.rclone_text, None
    fname = s.values["rclone_conf"]
    source = boot / fname
    if "/" in fname or "\\" in fname or fname in (".", ".."):
        raise Rejected(f"{s.where('rclone_conf')}: just the file's name, placed beside this one")
    if not source.is_file():
        raise Rejected(f"{s.where('rclone_conf')}: there is no {fname} on the boot partition")
    try:
        return decode(source.read_bytes()), source
    except Rejected as exc:
        raise Rejected(f"{s.where('rclone_conf')}: {fname}: {exc}") from None


def box_rclone_conf(s: Settings, existing: Path) -> str:
    """The rclone config the box already has. Rejected when it has none."""
    if not existing.is_file():
        raise Rejected(
            f"{s.where('upload_remote')}: no rclone config: put your rclone.conf beside this file "
            f"and set rclone_conf = rclone.conf, or paste it below a line {RCLONE_BLOCK}"
        )
    return existing.read_text()


def rclone_remotes(s: Settings, conf_text: str, name: str) -> list[str]:
    """The remotes the rclone config names, `name` among them. Rejected: the one problem that
    stops the upload settings (an encrypted or unreadable config, no such remote)."""
    if "RCLONE_ENCRYPT_V0:" in conf_text:
        raise Rejected(
            f"{s.where('upload_remote')}: this rclone config is encrypted; remove its password "
            "(rclone config encryption remove) before copying it here"
        )
    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="\0")
    try:
        parser.read_string(conf_text)
    except configparser.Error as exc:
        raise Rejected(
            f"{s.where('upload_remote')}: the rclone config is not readable: {exc}"
        ) from None
    remotes = parser.sections()
    if name not in remotes:
        raise Rejected(
            f"{s.where('upload_remote')}: the rclone config has no remote '{name}' "
            f"(it has: {', '.join(remotes) or 'none'})"
        )
    return remotes


def crypt_remote(
    s: Settings,
    remote: str,
    remotes: list[str],
    rclone: str | None,
    check_only: bool,
    problems: list[str],
) -> str | None:
    """An rclone crypt remote over upload_remote, as rclone.conf text: names and contents are
    encrypted before they leave the box. rclone stores the passphrases obscured, never in plain
    text; they are obscured only when the whole file is accepted. None: refused."""
    if CRYPT_REMOTE in remotes:
        problems.append(
            f"{s.where('crypt_password')}: the rclone config already has a remote named "
            f"'{CRYPT_REMOTE}': leave crypt_password out and set upload_remote to it"
        )
        return None
    for key in ("crypt_password", "crypt_password2"):
        if key in s.values and len(s.values[key]) < 10:
            problems.append(f"{s.where(key)}: use a long passphrase (10 characters or more)")
    section = [f"[{CRYPT_REMOTE}]", "type = crypt", f"remote = {remote}"]
    if not check_only and not problems:
        try:
            section.append(f"password = {obscure(rclone, s.values['crypt_password'])}")
            if second := s.values.get("crypt_password2"):
                section.append(f"password2 = {obscure(rclone, second)}")
        except Rejected as exc:
            problems.append(f"{s.where('crypt_password')}: {exc}")
            return None
    return "\n".join(section) + "\n"


def find_rclone(explicit: str | None) -> str | None:
    for candidate in (explicit, shutil.which("rclone"), "/usr/bin/rclone"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def obscure(rclone: str | None, secret: str) -> str:
    """rclone's own obscuring, fed on stdin so the passphrase never shows in a process list."""
    if rclone is None:
        raise Rejected("rclone is not installed on the box, so the passphrase cannot be stored")
    done = subprocess.run(
        [rclone, "obscure", "-"],
        input=secret + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode or not done.stdout.strip():
        raise Rejected(f"rclone obscure failed: {done.stderr.strip()[:200]}")
    return done.stdout.strip()


def plan_timezone(s: Settings, root: Path, plan: Plan, problems: list[str]) -> None:
    tz = s.values.get("timezone")
    if tz is None:
        return
    zones = zoneinfo_dir(root)
    if not TIMEZONE.match(tz) or (zones is not None and not (zones / tz).is_file()):
        problems.append(
            f"{s.where('timezone')}: not a time zone name like Europe/London{s.shown('timezone')}"
        )
        return
    plan.writes.append(Write(under(root, Path("/etc/timezone")), lines([tz]), 0o644))
    plan.symlinks.append((under(root, Path("/etc/localtime")), str(ZONEINFO / tz)))
    plan.summary.append(("time zone", tz))


# --- the box's own broker --------------------------------------------------------------------

PASSWORD_CHARS = string.ascii_letters + string.digits  # typed on a phone; safe in any file


def random_password(length: int) -> str:
    return "".join(secrets.choice(PASSWORD_CHARS) for _ in range(length))


def read_secret(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    except OSError:
        return None
    return value or None


def hashed_passwd(existing: Path, users: list[tuple[str, str]]) -> bytes | None:
    """mosquitto's password file with these users set (others kept), hashed by mosquitto's own
    tool; None when mosquitto is not installed. (-b shows a password on the command line for a
    moment: this runs at boot, before anything but root.)"""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "passwd"
        work.write_bytes(existing.read_bytes() if existing.is_file() else b"")
        for user, password in users:
            done = subprocess.run(
                [tool, "-b", str(work), user, password],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode:
                raise Rejected(f"mosquitto_passwd failed: {done.stderr.strip()[:200]}")
        return work.read_bytes()


def plan_broker_passwords(
    s: Settings, root: Path, gid: int | None, check_only: bool, plan: Plan, problems: list[str]
) -> None:
    """The accounts on the box's own broker: made at the first start of a box flashed from an
    image (the marker), and the dashboard's replaced when the settings file chooses one.
    Passwords already made are kept: /etc/session-recorder holds the record."""
    chosen = s.values.get("dashboard_password")
    if chosen is not None and not (8 <= len(chosen) <= 64 and chosen.isprintable()):
        problems.append(f"{s.where('dashboard_password')}: use 8 to 64 characters (no tabs)")
        return
    marker = under(root, SECRETS_MARKER)
    first_start = marker.is_file()
    if chosen:
        plan.summary.append(("phone dashboard", "user dashboard, the password in the file"))
    if check_only or not (first_start or chosen):
        return

    recorder_file, dash_file = under(root, MQTT_PASS), under(root, DASH_PASS)
    # mqtt.pass is the daemon's password on whichever broker it uses; the local account follows
    # it, so the file and the broker never disagree (plan_mqtt writes a central broker's).
    recorder_pw = s.values.get("mqtt_password") or read_secret(recorder_file)
    if recorder_pw is None:
        recorder_pw = random_password(32)
        plan.writes.append(Write(recorder_file, lines([recorder_pw]), secret_mode(gid), gid))
    dashboard_pw = chosen or read_secret(dash_file)
    if dashboard_pw is None:
        dashboard_pw = random_password(16)
        plan.summary.append(
            (
                "phone dashboard",
                "a random password; to log in from a phone choose one: dashboard_password",
            )
        )
    if dashboard_pw != read_secret(dash_file):
        # the web server (the recorder's group) checks the page's logins against it
        plan.writes.append(Write(dash_file, lines([dashboard_pw]), secret_mode(gid), gid))

    passwd = under(root, MQ_PASSWD)
    try:
        data = hashed_passwd(passwd, [("recorder", recorder_pw), ("dashboard", dashboard_pw)])
    except (OSError, subprocess.SubprocessError) as exc:
        problems.append(f"could not run mosquitto_passwd: {exc}")
        return
    except Rejected as exc:
        problems.append(str(exc))
        return
    if data is None or not passwd.parent.is_dir():
        if chosen:
            problems.append(
                f"{s.where('dashboard_password')}: the box has no mosquitto (its broker), so "
                "there is no dashboard to log in to"
            )
        else:  # the passwords are kept; the marker stays, so a later start finishes the job
            print("mosquitto is not installed: its password file is made at a later start")
        return
    mq_gid = group_id(root, MQ_GROUP)
    plan.writes.append(Write(passwd, data, 0o640, 0 if mq_gid is None else mq_gid))
    if first_start:
        plan.remove.append(marker)
        plan.summary.append(("broker passwords", "made for this box"))


def render_acl(template: str, device_id: str, prefix: str, ha_prefix: str) -> str:
    """The ACL exactly as install.sh renders it, so neither sees the other's as a change."""
    body = template.splitlines(keepends=True)
    while body and body[0].startswith("#"):
        body.pop(0)  # the template's own instructions
    header = [
        "# Session Recorder: who may do what on this box's mosquitto.",
        f'# Rendered for device "{device_id}", prefix "{prefix}" from',
        f"# {ACL_TEMPLATE} (install.sh; first-boot provisioning).",
        "# Anonymous access is off: a user may do only what is listed under its name.",
    ]
    text = "".join(body)
    for key, value in (
        ("@PREFIX@", prefix),
        ("@DEVICE_ID@", device_id),
        ("@HA_PREFIX@", ha_prefix),
    ):
        text = text.replace(key, value)
    return "\n".join(header) + "\n" + text


def plan_acl(root: Path, device_id: str, plan: Plan) -> None:
    """The broker's ACL names the box: a new device id needs it rendered again."""
    template, acl = under(root, ACL_TEMPLATE), under(root, MQ_ACL)
    if not template.is_file() or not acl.is_file():
        return  # no local broker set up by install.sh: nothing names the box
    try:
        config = tomllib.loads(under(root, CONFIG).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        config = {}  # plan_config reports a broken config
    mqtt = config.get("mqtt") if isinstance(config.get("mqtt"), dict) else {}
    prefix = str(mqtt.get("prefix", "session-recorder"))
    ha_prefix = str(mqtt.get("ha_prefix", "homeassistant"))
    text = render_acl(template.read_text(encoding="utf-8"), device_id, prefix, ha_prefix)
    st = acl.stat()
    plan.writes.append(Write(acl, text.encode(), st.st_mode & 0o7777, st.st_gid))


def secret_mode(gid: int | None) -> int:
    # Readable by the recorder's group once it exists; until then root only.
    return 0o640 if gid is not None else 0o600


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


SECTION = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(?:#.*)?$")
ANY_SECTION = re.compile(r"^\s*\[")


def edit_toml(text: str, updates: dict[str, dict[str, object]]) -> str:
    """Set keys in place, keeping every other line (and comment) of the file as it was."""
    out = text.splitlines()
    for section, values in updates.items():
        start = next(
            (i for i, ln in enumerate(out) if (m := SECTION.match(ln)) and m[1] == section), None
        )
        if start is None:
            if out and out[-1].strip():
                out.append("")
            out.append(f"[{section}]")
            out += [f"{k} = {toml_value(v)}" for k, v in values.items()]
            continue
        end = next((i for i in range(start + 1, len(out)) if ANY_SECTION.match(out[i])), len(out))
        insert_at = start + 1
        for key, value in values.items():
            assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
            hit = next((i for i in range(start + 1, end) if assignment.match(out[i])), None)
            if hit is None:
                out.insert(insert_at, f"{key} = {toml_value(value)}")
                insert_at += 1
                end += 1
            else:
                out[hit] = f"{key} = {toml_value(value)}"
    return "\n".join(out) + "\n"


def plan_config(
    root: Path, gid: int | None, updates: dict, plan: Plan, problems: list[str]
) -> None:
    path = under(root, CONFIG)
    old_text, mode, group = "", (0o640 if gid is not None else 0o644), gid
    if path.is_file():
        st = path.stat()
        # Keep its mode and group: the replacement is a new file, owned by whoever writes it.
        old_text, mode, group = path.read_text(encoding="utf-8"), st.st_mode & 0o7777, st.st_gid
    try:
        old = tomllib.loads(old_text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"the box's {CONFIG} is not valid TOML ({exc}): fix or remove it first")
        return
    new_text = old_text or (
        "# Session Recorder configuration. First-boot provisioning wrote the values below;\n"
        "# docs/config.example.toml lists every key with its default.\n"
    )
    new_text = edit_toml(new_text, updates)
    # Proof that only the intended keys changed, and that the file still parses.
    expected = copy.deepcopy(old)
    for section, values in updates.items():
        expected.setdefault(section, {}).update(values)
    try:
        ok = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:
        problems.append(f"could not update {CONFIG} safely: edit it by hand")
        return
    plan.writes.append(Write(path, new_text.encode(), mode, group))


def build_plan(
    s: Settings, boot: Path, root: Path, rclone: str | None, check_only: bool
) -> tuple[Plan, list[str]]:
    plan, problems = Plan(), []
    gid = group_id(root)
    conf_dir = under(root, CONF_DIR)
    plan.dirs.append((conf_dir, 0o750, gid))

    device_id = s.values.get("device_id")
    if device_id is None:
        problems.append(
            f"{s.where('device_id')}: missing; every box needs a name, e.g. device_id = coach-room-1"
        )
    elif not DEVICE_ID.match(device_id):
        problems.append(
            f"{s.where('device_id')}: use 1 to 64 letters, digits, '-' or '_'{s.shown('device_id')}"
        )
    else:
        plan.summary.append(("device id", device_id))
    plan_timezone(s, root, plan, problems)
    plan_wifi(s, boot, root, plan, problems)
    updates: dict[str, dict[str, object]] = {"device": {"id": device_id or ""}}
    mqtt = plan_mqtt(s, root, gid, plan, problems)
    if mqtt:
        updates["mqtt"] = mqtt
    upload = plan_upload(s, boot, root, gid, rclone, check_only, plan, problems)
    if upload:
        updates["upload"] = upload
    plan_broker_passwords(s, root, gid, check_only, plan, problems)
    if not problems:
        plan_config(root, gid, updates, plan, problems)
    if not problems and device_id:
        plan_acl(root, device_id, plan)
    return plan, problems


# --- applying it -----------------------------------------------------------------------------


def lines(items: list[str], newline: str = "\n") -> bytes:
    return (newline.join(items) + newline).encode()


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the data is synced already
    finally:
        os.close(fd)


def set_group(fd: int, gid: int | None, path: Path) -> None:
    if gid is None:
        return
    try:
        os.fchown(fd, 0 if os.geteuid() == 0 else -1, gid)
    except PermissionError:
        print(f"warning: could not give {path} to group {gid} (not root)", file=sys.stderr)


def write_atomic(path: Path, data: bytes, mode: int | None, gid: int | None = None) -> None:
    tmp = path.with_name(f".{path.name}.provision-tmp")
    first_mode = 0o600 if mode is not None else 0o644  # secrets are never readable, even briefly
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, first_mode)
    try:
        os.write(fd, data)
        if mode is not None:
            os.fchmod(fd, mode)
        set_group(fd, gid, path)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def shred(path: Path) -> None:
    """Overwrite with zeros, sync, delete. FAT rewrites in place, so the old text is gone from
    the file system; an SD card's wear levelling may still keep old blocks (see README)."""
    size = path.stat().st_size
    with open(path, "r+b", buffering=0) as f:
        for offset in range(0, size, 65536):
            f.write(b"\0" * min(65536, size - offset))
        os.fsync(f.fileno())
    path.unlink()
    fsync_dir(path.parent)


def apply(plan: Plan, boot: Path, source: Path | None, live: bool) -> None:
    """Every change, then (for a settings file) the receipt, then the secrets are wiped."""
    for path, mode, gid in plan.dirs:
        if not path.is_dir():
            path.mkdir(mode=mode, parents=True)
            os.chmod(path, mode)
            if gid is not None:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    set_group(fd, gid, path)
                finally:
                    os.close(fd)
    for w in plan.writes:
        write_atomic(w.path, w.data, w.mode, w.gid)
    for link, target in plan.symlinks:
        tmp = link.with_name(f".{link.name}.provision-tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
        fsync_dir(link.parent)
    for path in plan.remove:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
    if source is None:
        return
    write_atomic(boot / RECEIPT_NAME, receipt(plan, source.name), None)
    for path in [*plan.shred, source]:
        shred(path)
    (boot / ERROR_NAME).unlink(missing_ok=True)
    if live:
        for command in plan.live:
            run_quietly(command)


def run_quietly(command: list[str]) -> None:
    """Apply to the running system too; a failure only means it applies at the next boot."""
    if shutil.which(command[0]) is None:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(command, capture_output=True, timeout=30, check=False)


def receipt(plan: Plan, source_name: str) -> bytes:
    width = max(len(k) for k, _ in plan.summary) + 2
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    items = [
        "Session Recorder: settings applied",
        "",
        f"The box took its settings from {source_name}, then overwrote that file with zeros",
        "and deleted it, so no password stays on this card. They are now only on the box.",
        "",
        *[f"{k + ':':<{width}}{v}" for k, v in plan.summary],
        f"{'when:':<{width}}{when} by the box's clock (it may be wrong until the box is online)",
        "",
        "To change settings later: put a new session-recorder.txt here and start the box.",
    ]
    if any(k == "upload" and "crypt" in v for k, v in plan.summary):
        items.append("Keep the crypt passphrases safe elsewhere: without them nobody can decrypt")
        items.append("the recordings, not even you.")
    return lines(items, "\r\n")  # CRLF: readable in every Notepad


def write_error(boot: Path, source_name: str, problems: list[str]) -> None:
    items = [
        f"Session Recorder could not use {source_name}, so nothing on the box was changed.",
        f"Fix what is listed below in {source_name}, save it, and start the box again.",
        "(This file goes away by itself once the settings are accepted.)",
        "",
        *[f"- {p}" for p in problems],
    ]
    try:
        write_atomic(boot / ERROR_NAME, lines(items, "\r\n"), None)
    except OSError as exc:
        print(f"could not write {boot / ERROR_NAME}: {exc}", file=sys.stderr)


# --- the command -----------------------------------------------------------------------------


def boot_writable(boot: Path) -> bool:
    """The secret can only be removed from a writable boot partition: test it first."""
    probe = boot / ".session-recorder-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        probe.unlink()
        return True
    except OSError:
        return False


def root_is_overlay() -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    kinds = [m.split()[2] for m in mounts if len(m.split()) > 2 and m.split()[1] == "/"]
    return bool(kinds) and kinds[-1] == "overlay"


def default_boot() -> str:
    return "/boot/firmware" if Path("/boot/firmware").is_dir() else "/boot"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    boot, root = Path(args.boot), Path(args.root)
    live = root.resolve() == Path("/")

    found = [boot / n for n in SETTINGS_NAMES if (boot / n).is_file()]
    if not found:
        if args.check or not under(root, SECRETS_MARKER).is_file():
            print(f"no {SETTINGS_NAMES[0]} in {boot}: nothing to do")
            return 0
        return first_start(root, live)
    refused = refuse_early(found, boot, live, args.check)
    if refused is not None:
        return refused
    return provision(found[0], boot, root, live, args.rclone, args.check)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boot", default=default_boot(), help="the boot partition")
    parser.add_argument("--root", default="/", help="the root file system to configure")
    parser.add_argument("--rclone", help="rclone binary (for crypt passphrases)")
    parser.add_argument("--check", action="store_true", help="only check the file; change nothing")
    return parser.parse_args(argv)


def refuse_early(found: list[Path], boot: Path, live: bool, check_only: bool) -> int | None:
    """The exit code when the settings cannot be used here whatever they say (two files, a
    boot partition that cannot be wiped, a root that forgets); None to go on."""
    source = found[0]
    if len(found) > 1:
        problems = [
            f"there are two settings files, {' and '.join(f.name for f in found)}: keep one"
        ]
        return reject(check_only, boot, source.name, problems)
    if check_only:
        return None
    if not boot_writable(boot):
        print(
            f"{boot} is read-only, so {source.name} (which holds passwords) could not be "
            "removed afterwards: nothing was changed. Make the boot partition writable.",
            file=sys.stderr,
        )
        return 2
    if live and root_is_overlay():
        problems = [
            "the root file system is a read-only overlay, so the settings would be lost at "
            "the next start: turn the overlay off (raspi-config), provision, then turn it on"
        ]
        return reject(False, boot, source.name, problems)
    return None


def provision(
    source: Path, boot: Path, root: Path, live: bool, rclone: str | None, check_only: bool
) -> int:
    """Check the settings file and, unless only checking, apply it: the exit code. `rclone` is
    the binary named on the command line, if any."""
    try:
        settings, problems = read_settings(source.read_bytes())
        plan, more = build_plan(settings, boot, root, find_rclone(rclone), check_only)
    except (OSError, UnicodeDecodeError) as exc:
        return reject(check_only, boot, source.name, [f"could not read what is needed: {exc}"])
    problems += more
    problems.sort(key=line_number)  # in file order, as the user reads it
    if problems:
        return reject(check_only, boot, source.name, problems)
    if check_only:
        print(f"{source.name} is fine:")
        for key, value in plan.summary:
            print(f"  {key}: {value}")
        return 0
    try:
        apply(plan, boot, source, live)
    except OSError as exc:
        # Writes are atomic and the settings file is still there: the next boot tries again.
        write_error(
            boot, source.name, [f"the box could not finish ({exc}); it retries at the next start"]
        )
        print(f"provisioning failed: {exc}", file=sys.stderr)
        return 2
    print(f"provisioned from {source.name}; it is now removed from {boot}:")
    for key, value in plan.summary:
        print(f"  {key}: {value}")
    return 0


def first_start(root: Path, live: bool) -> int:
    """The first start of a box from an image, without a settings file: its own passwords."""
    plan, problems = Plan(), []
    plan_broker_passwords(Settings(), root, group_id(root), False, plan, problems)
    if problems:
        for p in problems:
            print(f"broker passwords not made: {p}", file=sys.stderr)
        return 1
    try:
        apply(plan, Path(), None, live)
    except OSError as exc:
        print(f"broker passwords not made ({exc}); retried at the next start", file=sys.stderr)
        return 2
    for key, value in plan.summary:
        print(f"{key}: {value}")
    return 0


def line_number(problem: str) -> int:
    m = re.match(r"line (\d+)", problem)
    return int(m[1]) if m else sys.maxsize


def reject(check_only: bool, boot: Path, source_name: str, problems: list[str]) -> int:
    print(f"{source_name} was not used, nothing changed:", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    if not check_only:
        write_error(boot, source_name, problems)
    return 1


if __name__ == "__main__":
    sys.exit(main())
