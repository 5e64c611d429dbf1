#!/usr/bin/env bash
# Session Recorder installer for Raspberry Pi OS Bookworm 64-bit (Pi 3B+, 4, 5, Zero 2 W).
#
#   sudo ./install.sh [--device-id ID] [--usb-id VVVV:PPPP] [--root DIR]
#                     [--no-packages] [--no-services] [--uninstall [--purge-recordings]]
#
# Run it from a checkout. It is idempotent: a second run changes nothing and says so. It
# upgrades in place: the config, the broker passwords and every recording are kept; the
# package, the units, the broker config and the dashboard page are replaced.
# `--root DIR` installs under DIR (tests, image builds) and never touches the host's users or
# services; when DIR is an OS tree with its own python3 the venv is made inside it (chroot). `--uninstall` removes the appliance but keeps the recordings and the config unless
# `--purge-recordings` is given. `--help` says more.
set -euo pipefail
# Everything installed must be readable by the service user and mosquitto unless a mode below
# says otherwise; secrets are written with umask 077 and then given their mode explicitly.
umask 022

usage() {
  cat <<'EOF'
Usage: sudo ./install.sh [options]

Installs the Session Recorder appliance from this checkout (Raspberry Pi OS Bookworm).

  --device-id ID       this box's name in sessions and MQTT topics (letters, digits, - and _);
                       default: the hostname. An existing config keeps its own id.
  --usb-id VVVV:PPPP   the USB audio interface's vendor:product (lsusb): installs a udev rule
                       that names its ALSA card "Recorder" (plughw:CARD=Recorder,DEV=0)
  --root DIR           install under DIR instead of / (tests, image builds); users are
                       created in DIR/etc, services are never touched; an OS tree with its
                       own python3 gets its venv made inside it (chroot)
  --no-packages        do not install Debian packages
  --no-services        do not enable, start or restart services
  --uninstall          remove the appliance; keeps /var/lib/session-recorder (the recordings)
                       and /etc/session-recorder
  --purge-recordings   with --uninstall: also delete the recordings and the config
  -h, --help           this text
EOF
}

die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Options

ARGS=("$@")
DEVICE_ID=""
USB_ID=""
ROOT=""
PACKAGES=1
SERVICES=1
UNINSTALL=0
PURGE=0

need_value() {
  if (($# < 2)) || [[ -z $2 ]]; then die "$1 needs a value (see --help)"; fi
}

while (($#)); do
  case $1 in
    --device-id) need_value "$@"; DEVICE_ID=$2; shift 2 ;;
    --device-id=*) DEVICE_ID=${1#*=}; shift ;;
    --usb-id) need_value "$@"; USB_ID=$2; shift 2 ;;
    --usb-id=*) USB_ID=${1#*=}; shift ;;
    --root) need_value "$@"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --no-packages) PACKAGES=0; shift ;;
    --no-services) SERVICES=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge-recordings) PURGE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

((PURGE == 0 || UNINSTALL == 1)) || die "--purge-recordings only goes with --uninstall"
if [[ -n $DEVICE_ID && ! $DEVICE_ID =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
  die "--device-id '$DEVICE_ID': use 1 to 64 letters, digits, '-' and '_'"
fi
USB_VENDOR=""
USB_PRODUCT=""
if [[ -n $USB_ID ]]; then
  [[ $USB_ID =~ ^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$ ]] ||
    die "--usb-id '$USB_ID': expected VVVV:PPPP in hex, as lsusb shows it (e.g. 0d8c:0014)"
  # sysfs spells the ids in lower case, and udev compares them as strings.
  USB_VENDOR=${BASH_REMATCH[1],,}
  USB_PRODUCT=${BASH_REMATCH[2],,}
fi

((EUID == 0)) || die "run it as root: sudo $0 ${ARGS[*]}"

# Base tools used below; all in a Debian base system, but a missing one must not pass silently
# (an empty answer from awk would read as "no such group").
for tool in awk sed grep cmp diff stat find tar sha256sum base64 head cut mktemp \
  useradd usermod userdel groupadd groupdel chroot; do
  command -v "$tool" >/dev/null || die "$tool is missing (it is in every Debian base system)"
done

SRC=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
for f in pyproject.toml recorder/__init__.py README.md docs/config.example.toml \
  systemd/session-recorder.service systemd/session-recorder-web.service \
  systemd/90-session-recorder-audio.rules dashboard/mosquitto/session-recorder.conf dashboard/mosquitto/session-recorder.acl; do
  [[ -e $SRC/$f ]] || die "$SRC/$f is missing: run install.sh from a complete checkout"
done

# R prefixes every path we write: empty for a real install, DIR with --root.
R=""
ROOTED=0
if [[ -n $ROOT ]]; then
  [[ -d $ROOT ]] || die "--root $ROOT: no such directory"
  R=$(cd "$ROOT" && pwd -P)
  [[ $R != / ]] || die "--root / is the normal install: leave --root out"
  [[ -f $R/etc/passwd && -f $R/etc/group ]] ||
    die "--root $R: it needs etc/passwd and etc/group (users are created there, not on this host)"
  ROOTED=1
fi

OPT=$R/opt/session-recorder
VENV=$OPT/venv
ETC=$R/etc/session-recorder
CONFIG=$ETC/config.toml
MQTT_PASS=$ETC/mqtt.pass
DASH_PASS=$ETC/dashboard.pass
# In an image: "this box makes its own broker passwords at its first start" (provision.py).
SECRETS_MARKER=$ETC/first-boot-secrets
STATE=$R/var/lib/session-recorder
UNIT=$R/etc/systemd/system/session-recorder.service
UNIT_LINK=$R/etc/systemd/system/multi-user.target.wants/session-recorder.service
WEB_UNIT=$R/etc/systemd/system/session-recorder-web.service
WEB_UNIT_LINK=$R/etc/systemd/system/multi-user.target.wants/session-recorder-web.service
PROVISION_UNIT=$R/etc/systemd/system/session-recorder-provision.service
PROVISION_LINK=$R/etc/systemd/system/multi-user.target.wants/session-recorder-provision.service
RULE=$R/etc/udev/rules.d/90-session-recorder-audio.rules
MQ=$R/etc/mosquitto
MQ_CONF=$MQ/conf.d/session-recorder.conf
MQ_ACL=$MQ/session-recorder.acl
MQ_PASSWD=$MQ/session-recorder.passwd
SHARE=$R/usr/share/session-recorder
WEB=$SHARE/dashboard
ACL_TEMPLATE=$SHARE/mosquitto/session-recorder.acl
ACL_TEMPLATE_ON_BOX=/usr/share/session-recorder/mosquitto/session-recorder.acl
USER_NAME=session-recorder
# Paths as the box sees them (what goes into files), whatever R is.
MQTT_PASS_ON_BOX=/etc/session-recorder/mqtt.pass

DEBS=(python3-venv python3-dev gcc libasound2-dev libsndfile1 alsa-utils rclone mosquitto)

# useradd, usermod, userdel, groupadd and groupdel work inside DIR with --root.
ROOT_ARGS=()
((ROOTED == 0)) || ROOT_ARGS=(--root "$R")

# An OS tree given to --root (an image being built) has its own python3: the venv is then made
# inside it through chroot, so it gets the image's architecture (binfmt/qemu on another host)
# and the paths it will have on the box. A bare DIR (tests, staging) gets a venv made by this
# host's python3, which runs from DIR only.
CHROOT=0
if ((ROOTED && !UNINSTALL)) && [[ -x $R/usr/bin/python3 ]]; then
  chroot "$R" /usr/bin/python3 -c '' ||
    die "--root $R is an OS tree whose python3 does not run here (another architecture needs binfmt and qemu-user-static, as pi-gen sets up)"
  [[ -c $R/dev/null && -d $R/tmp ]] ||
    die "--root $R: mount /dev and /proc in it first (as pi-gen's on_chroot does)"
  CHROOT=1
fi

# Mode 0700: secrets are staged here. In DIR with chroot, so the box's programs can see it.
if ((CHROOT)); then
  TMP=$(mktemp -d "$R/tmp/session-recorder-install.XXXXXX")
else
  TMP=$(mktemp -d)
fi
STEP="starting"
on_exit() {
  local rc=$?
  rm -rf "$TMP"
  ((rc == 0)) || printf 'install.sh: stopped with an error during: %s\n' "$STEP" >&2
}
trap on_exit EXIT
trap 'exit 130' INT TERM # so that on_exit cleans up

# ---------------------------------------------------------------------------------------------
# Reporting: every change is counted, so a run that changed nothing can say so.

CHANGES=()
WARNINGS=()
step() {
  STEP=$*
  printf '\n==> %s\n' "$*"
}
say() { printf '    %s\n' "$*"; }
changed() {
  CHANGES+=("$*")
  printf '    + %s\n' "$*"
}
warn() {
  WARNINGS+=("$*")
  printf '    ! %s\n' "$*" >&2
}

# ---------------------------------------------------------------------------------------------
# Helpers. Users and groups are read from $R/etc, never through NSS, so --root never looks at
# (or changes) the host's accounts; ownership is set by number for the same reason.

gid_of() { awk -F: -v n="$1" '$1 == n { print $3; exit }' "$R/etc/group"; }
gid_or_die() {
  local gid
  gid=$(gid_of "$1")
  [[ -n $gid ]] || die "group $1 does not exist in $R/etc/group"
  printf '%s' "$gid"
}
uid_of() { awk -F: -v n="$1" '$1 == n { print $3; exit }' "$R/etc/passwd"; }
in_group() { # in_group USER GROUP
  local members
  members=$(awk -F: -v n="$2" '$1 == n { print $4; exit }' "$R/etc/group")
  [[ ,$members, == *,"$1",* ]]
}

# LAST is "changed" or "unchanged" after fix_meta, put and put_dir.
LAST=unchanged

# fix_meta PATH MODE GROUP: owner root, the group by name (from $R/etc/group), the mode.
fix_meta() {
  local path=$1 mode=$2 group=$3 gid
  gid=$(gid_or_die "$group")
  LAST=unchanged
  if [[ $(stat -c '%a:%u:%g' "$path") != "$mode:0:$gid" ]]; then
    chown "+0:+$gid" "$path"
    chmod "$mode" "$path"
    LAST=changed
    changed "set $path to mode $mode, owner root:$group"
  fi
}

# put SRC DEST MODE GROUP: installs SRC as DEST unless DEST already has the same bytes; the
# new file is written beside DEST and renamed over it, so DEST is always whole.
put() {
  local src=$1 dest=$2 mode=$3 group=$4
  if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
    fix_meta "$dest" "$mode" "$group"
    [[ $LAST == changed ]] || say "unchanged  $dest"
    return 0
  fi
  local verb=installed
  [[ -e $dest ]] && verb=updated
  local tmp=$dest.install-tmp gid
  gid=$(gid_or_die "$group")
  (umask 077 && cp "$src" "$tmp")
  chown "+0:+$gid" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  LAST=changed
  changed "$verb $dest ($mode root:$group)"
}

# put_dir DIR MODE GROUP: the directory exists with this mode and owner.
put_dir() {
  local dir=$1 mode=$2 group=$3 gid
  gid=$(gid_or_die "$group")
  if [[ ! -d $dir ]]; then
    mkdir -p "$dir"
    chown "+0:+$gid" "$dir"
    chmod "$mode" "$dir"
    LAST=changed
    changed "created $dir/ ($mode root:$group)"
  else
    fix_meta "$dir" "$mode" "$group"
  fi
}

# remove PATH...: deletes what exists and says so.
remove() {
  local p
  for p in "$@"; do
    if [[ -e $p || -L $p ]]; then
      rm -rf -- "$p"
      changed "removed $p"
    fi
  done
}

systemd_running() { ((ROOTED == 0)) && [[ -d /run/systemd/system ]]; }

# boxpath PATH: where the box's own programs see PATH (without R in chroot mode).
boxpath() {
  if ((CHROOT)); then printf '%s' "${1#"$R"}"; else printf '%s' "$1"; fi
}
# on_box PROGRAM ARGS...: runs one of the box's programs (through chroot in image mode). Paths
# in ARGS must go through boxpath.
on_box() {
  if ((CHROOT)); then chroot "$R" "$@"; else "$@"; fi
}
venv_python() { on_box "$(boxpath "$VENV/bin/python")" "$@"; }
recorder_cli() { on_box "$(boxpath "$VENV/bin/session-recorder")" "$@"; }

# config_value FILE SECTION KEY DEFAULT: one value from a TOML file, read by the venv's Python
# (tomllib needs 3.11, which an image build host may not have).
config_value() {
  local file
  file=$(boxpath "$1")
  shift
  venv_python - "$file" "$@" <<'PY'
import sys
import tomllib

path, section, key, default = sys.argv[1:]
try:
    with open(path, "rb") as f:
        data = tomllib.load(f)
except (OSError, tomllib.TOMLDecodeError) as exc:
    sys.exit(f"cannot read {path}: {exc}")
table = data.get(section)
print(table.get(key, default) if isinstance(table, dict) else default)
PY
}

# box_hostname: the box's short host name (its /etc/hostname: in a chroot the kernel's is the
# build host's).
box_hostname() {
  local host
  host=$(head -n1 "$R/etc/hostname" 2>/dev/null || hostname)
  printf '%s' "${host%%.*}"
}

# random_password LENGTH: letters and digits only (typed on a phone; safe in any file).
random_password() {
  local pw=""
  while ((${#pw} < $1)); do
    pw+=$(head -c 48 /dev/urandom | base64 -w0 | tr -d '+/=')
  done
  printf '%s' "${pw:0:$1}"
}

# The hash of what `pip install` builds from, so an unchanged checkout is not reinstalled
# (pip always reinstalls a local directory, even at the same version).
source_hash() {
  local inputs=(pyproject.toml README.md recorder) f files=()
  for f in setup.py setup.cfg MANIFEST.in; do
    if [[ -e $SRC/$f ]]; then inputs+=("$f"); fi
  done
  mapfile -t files < <(cd "$SRC" && find "${inputs[@]}" -type f ! -name '*.pyc' \
    ! -path '*/__pycache__/*' | LC_ALL=C sort)
  (cd "$SRC" && sha256sum -- "${files[@]}") | sha256sum | cut -c1-64
}

# The interpreter for the venv: Debian's python3 (the one python3-venv and python3-dev are for);
# in image mode the image's own.
PYTHON=/usr/bin/python3

# =============================================================================================
# Uninstall

uninstall() {
  step "Stopping the service"
  if ((ROOTED)); then
    say "--root: services are not touched"
    remove "$UNIT_LINK" "$WEB_UNIT_LINK" "$PROVISION_LINK"
  elif ((SERVICES == 0)); then
    # Removing the program under a running daemon would leave it half there.
    if systemd_running && systemctl is-active --quiet session-recorder.service; then
      die "session-recorder.service is running: stop it first (systemctl disable --now session-recorder) or leave out --no-services"
    fi
    say "--no-services: services not touched"
  elif ! command -v systemctl >/dev/null; then
    say "no systemctl here"
  elif [[ -f $UNIT ]] || systemctl cat session-recorder.service >/dev/null 2>&1; then
    local unit
    for unit in session-recorder.service session-recorder-web.service \
      session-recorder-provision.service; do
      if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        systemctl disable --quiet "$unit"
        changed "disabled $unit"
      fi
    done
    if systemd_running && systemctl is-active --quiet session-recorder-web.service; then
      systemctl stop session-recorder-web.service
      changed "stopped session-recorder-web.service"
    fi
    if systemd_running && systemctl is-active --quiet session-recorder.service; then
      # SIGTERM finalizes a session that is recording before the daemon exits.
      systemctl stop session-recorder.service
      changed "stopped session-recorder.service (a session in progress was finalized)"
    fi
  else
    say "not installed"
  fi

  step "Removing the program, the units, the udev rule, the broker's files and the page"
  local before=${#CHANGES[@]} rule_removed=0 mq_removed=0
  [[ -e $RULE ]] && rule_removed=1
  [[ -e $MQ_CONF || -e $MQ_ACL || -e $MQ_PASSWD ]] && mq_removed=1
  remove "$UNIT" "$WEB_UNIT" "$PROVISION_UNIT" "$RULE" "$MQ_CONF" "$MQ_ACL" "$MQ_PASSWD" "$OPT" "$SHARE"
  ((${#CHANGES[@]} > before)) || say "nothing left to remove"
  if ((ROOTED == 0 && SERVICES == 1)) && systemd_running; then
    systemctl daemon-reload
    if ((rule_removed)); then udevadm control --reload; fi
    if ((mq_removed)) && systemctl is-active --quiet mosquitto.service; then
      # Without our conf.d file mosquitto goes back to Debian's defaults.
      systemctl restart mosquitto.service
      changed "restarted mosquitto (without the recorder's listeners and users)"
    fi
  fi

  step "Removing the system user $USER_NAME"
  if [[ -z $(uid_of "$USER_NAME") && -z $(gid_of "$USER_NAME") ]]; then
    say "no user or group $USER_NAME"
  fi
  if [[ -n $(uid_of "$USER_NAME") ]]; then
    userdel "${ROOT_ARGS[@]}" "$USER_NAME" ||
      die "userdel $USER_NAME failed (is something still running as $USER_NAME?)"
    changed "removed user $USER_NAME"
  fi
  if [[ -n $(gid_of "$USER_NAME") ]]; then
    groupdel "${ROOT_ARGS[@]}" "$USER_NAME"
    changed "removed group $USER_NAME"
  fi
  say "the groups audio and gpio stay (other software uses them)"

  step "Recordings and configuration"
  if ((PURGE)); then
    local what=()
    [[ -e $STATE ]] && what+=("$STATE")
    [[ -e $ETC ]] && what+=("$ETC")
    if ((${#what[@]})); then
      say "--purge-recordings deletes, for good:"
      local p n
      for p in "${what[@]}"; do
        n=$(find "$p" -mindepth 2 -maxdepth 2 -type d \( -path '*/recording/*' -o \
          -path '*/outbox/*' -o -path '*/uploaded/*' \) | wc -l)
        if [[ $p == "$STATE" ]]; then
          say "  $p ($(du -sh "$p" | cut -f1), sessions: $n)"
        else
          say "  $p ($(du -sh "$p" | cut -f1))"
        fi
      done
      find "${what[@]}" -mindepth 1 -maxdepth 2 | LC_ALL=C sort | sed 's/^/        /'
      remove "${what[@]}"
    else
      say "no recordings or configuration left"
    fi
  else
    [[ -e $STATE ]] && say "kept      $STATE (the recordings)"
    [[ -e $ETC ]] && say "kept      $ETC (config, passwords)"
    say "--uninstall --purge-recordings deletes them too"
  fi

  step "Summary"
  if ((${#CHANGES[@]} == 0)); then
    say "Nothing changed: Session Recorder was not installed here."
  else
    say "Session Recorder is uninstalled (${#CHANGES[@]} changes)."
  fi
  summary_warnings
}

summary_warnings() {
  if ((${#WARNINGS[@]})); then
    say ""
    say "Warnings:"
    local w
    for w in "${WARNINGS[@]}"; do say "  ! $w"; done
  fi
}

# =============================================================================================
# Install

install_packages() {
  step "Debian packages"
  if ((PACKAGES == 0)); then
    say "--no-packages: skipped (needed: ${DEBS[*]})"
    return 0
  fi
  if ((ROOTED)); then
    warn "--root: Debian packages are not installed into $R (install ${DEBS[*]} there; --no-packages silences this)"
    return 0
  fi
  local missing=() p
  for p in "${DEBS[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] ||
      missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "unchanged  all installed: ${DEBS[*]}"
    return 0
  fi
  say "installing ${missing[*]} (Debian's rclone and mosquitto: apt keeps them up to date with the system)"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  changed "installed Debian packages: ${missing[*]}"
}

install_user() {
  step "System user and group $USER_NAME (groups audio and gpio)"
  local g
  for g in audio gpio; do
    # gpio exists on Raspberry Pi OS; elsewhere (a test machine) the unit still needs it.
    if [[ -z $(gid_of "$g") ]]; then
      groupadd "${ROOT_ARGS[@]}" --system "$g"
      changed "created group $g"
    fi
  done
  if [[ -z $(uid_of "$USER_NAME") ]]; then
    local group_args=(--user-group)
    # A group left behind by hand would make --user-group fail: use it.
    [[ -z $(gid_of "$USER_NAME") ]] || group_args=(--gid "$USER_NAME")
    # No home and no login: the state lives in /var/lib/session-recorder (StateDirectory=).
    # (A root without /usr/sbin/nologin makes useradd warn about it: that warning is dropped.)
    useradd "${ROOT_ARGS[@]}" --system "${group_args[@]}" --groups audio,gpio \
      --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --comment "Session Recorder" "$USER_NAME" 2> >(grep -v 'non-executable shell' >&2)
    changed "created system user $USER_NAME (no login, no home) in groups audio, gpio"
  else
    local added=0
    for g in audio gpio; do
      if ! in_group "$USER_NAME" "$g"; then
        usermod "${ROOT_ARGS[@]}" --append --groups "$g" "$USER_NAME"
        changed "added $USER_NAME to group $g"
        added=1
      fi
    done
    if ((added == 0)); then
      say "unchanged  user $USER_NAME (uid $(uid_of "$USER_NAME")) in groups audio and gpio"
    fi
  fi
}

# No pip cache inside an image, unless the caller points PIP_CACHE_DIR somewhere in it.
PIP_IMAGE_ARGS=()
if ((CHROOT)) && [[ -z ${PIP_CACHE_DIR:-} ]]; then PIP_IMAGE_ARGS=(--no-cache-dir); fi

PACKAGE_CHANGED=0
install_venv() {
  step "Python virtualenv $VENV"
  # Looked up now, not at the start: on a fresh Debian python3 comes with the packages above.
  if ((CHROOT == 0)) && [[ ! -x $PYTHON ]]; then PYTHON=$(command -v python3 || true); fi
  [[ -n $PYTHON ]] || die "python3 is missing (Debian package python3)"
  if ((CHROOT)); then say "image mode: the venv is made inside $R with its own $PYTHON (chroot)"; fi
  on_box "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$PYTHON is older than 3.11 (Raspberry Pi OS Bookworm has 3.11)"
  put_dir "$OPT" 755 root
  if [[ -e $VENV ]] && ! venv_python -c '' 2>/dev/null; then
    say "the venv no longer runs (Python upgraded?): making it again"
    rm -rf "$VENV"
  fi
  if [[ ! -e $VENV ]]; then
    on_box "$PYTHON" -m venv "$(boxpath "$VENV")" ||
      die "could not make a venv: is python3-venv installed?"
    changed "created virtualenv $VENV"
  fi
  local stamp=$VENV/.session-recorder-source hash
  hash=$(source_hash)
  if [[ -f $stamp && $(<"$stamp") == "$hash" ]] &&
    recorder_cli --version >/dev/null 2>&1; then
    say "unchanged  $(recorder_cli --version) (same source as installed)"
  else
    # Build from a clean copy: pip builds in the source tree, and a root-owned build/ and
    # *.egg-info in the user's checkout would get in their way.
    say "installing the package and its dependencies with pip (a few minutes on a Pi)"
    mkdir "$TMP/src"
    tar -C "$SRC" --exclude=__pycache__ --exclude='*.egg-info' --exclude=node_modules \
      --anchored --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
      --exclude=./tests --exclude=./dashboard --exclude=./.pytest_cache --exclude=./.ruff_cache \
      -cf - . | tar -C "$TMP/src" -xf -
    venv_python -m pip install --quiet --upgrade --no-input --disable-pip-version-check \
      "${PIP_IMAGE_ARGS[@]}" "$(boxpath "$TMP/src")" ||
      die "pip could not install the package: PyPI (or piwheels) must be reachable"
    printf '%s\n' "$hash" >"$stamp"
    PACKAGE_CHANGED=1
    changed "installed $(recorder_cli --version) into $VENV"
  fi
  # gpiozero's only working pin factory on a Pi 5 (and a good one on the others). A Pi-only
  # extra: found without importing it, since importing lgpio leaves files in the cwd.
  local pi=0
  if ((ROOTED == 0)) && grep -qs 'Raspberry Pi' /proc/device-tree/model; then pi=1; fi
  if ((CHROOT)) && [[ -f $R/boot/firmware/config.txt ]]; then pi=1; fi
  if ((pi)) &&
    ! venv_python -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("lgpio"))'; then
    venv_python -m pip install --quiet --no-input --disable-pip-version-check \
      "${PIP_IMAGE_ARGS[@]}" lgpio ||
      die "pip could not install lgpio (GPIO on a Raspberry Pi)"
    changed "installed lgpio into $VENV (GPIO on a Raspberry Pi)"
  fi
  put "$SRC/README.md" "$OPT/README.md" 644 root
  if ((ROOTED && !CHROOT)); then
    # A venv is not relocatable: its scripts start with #!$VENV/bin/python.
    say "note: --root: this venv runs from $VENV, not once $R becomes / (an image build gives"
    say "  --root an OS tree with its own python3: the venv is then made inside it)"
  fi
}

# render_config ID: the example config with this box's id and the local broker's account.
render_config() {
  awk -v id="$1" -v pwfile="$MQTT_PASS_ON_BOX" '
    function close_section() {
      if (section == "device" && !done_id) { print "id = \"" id "\""; done_id = 1 }
      if (section == "mqtt" && !done_user) { print "username = \"recorder\""; done_user = 1 }
      if (section == "mqtt" && !done_pw) { print "password_file = \"" pwfile "\""; done_pw = 1 }
    }
    /^\[/ {
      close_section()
      section = $0; sub(/^\[/, "", section); sub(/\].*$/, "", section)
      seen[section] = 1; print; next
    }
    section == "device" && /^#? *id *=/ {
      if (!done_id) print "id = \"" id "\""; done_id = 1; next
    }
    section == "mqtt" && /^#? *username *=/ {
      if (!done_user) print "username = \"recorder\""; done_user = 1; next
    }
    section == "mqtt" && /^#? *password_file *=/ {
      if (!done_pw) print "password_file = \"" pwfile "\""; done_pw = 1; next
    }
    { print }
    END {
      close_section()
      if (!seen["device"]) { section = "device"; print "\n[device]"; close_section() }
      if (!seen["mqtt"]) { section = "mqtt"; print "\n[mqtt]"; close_section() }
    }
  ' "$SRC/docs/config.example.toml"
}

BOX_ID=""
PREFIX=""
HA_PREFIX=""
CONFIG_CHANGED=0
install_config() {
  step "Configuration $CONFIG"
  put_dir "$ETC" 750 "$USER_NAME"
  # The box's id: an existing config keeps its own (the broker's ACL must match what the
  # daemon publishes); else --device-id; else the hostname, made safe.
  if [[ -f $CONFIG ]]; then
    BOX_ID=$(config_value "$CONFIG" device id recorder) || die "fix $CONFIG, then run again"
    if [[ -n $DEVICE_ID && $DEVICE_ID != "$BOX_ID" ]]; then
      warn "kept [device] id = \"$BOX_ID\" from $CONFIG; --device-id $DEVICE_ID does not change an existing config (edit it, then run install.sh again)"
    fi
  elif [[ -n $DEVICE_ID ]]; then
    BOX_ID=$DEVICE_ID
  else
    local host
    host=$(box_hostname)
    BOX_ID=$(printf '%s' "$host" | sed 's/[^A-Za-z0-9_-]/-/g' | cut -c1-64)
    [[ -n $BOX_ID ]] || BOX_ID=recorder
    say "device id from the hostname: $BOX_ID (--device-id sets another)"
  fi
  [[ $BOX_ID =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
    die "[device] id \"$BOX_ID\" in $CONFIG: use letters, digits, '-' and '_'"

  render_config "$BOX_ID" >"$TMP/config.toml"
  recorder_cli config check --config "$(boxpath "$TMP/config.toml")" >/dev/null ||
    die "the config rendered from docs/config.example.toml does not pass config check"

  # The example the last install used, to tell the user's edits (and first-boot provisioning's,
  # which may change the id) from a changed example.
  local previous=$OPT/config.example.toml
  if [[ ! -f $CONFIG ]]; then
    put "$TMP/config.toml" "$CONFIG" 640 "$USER_NAME"
    CONFIG_CHANGED=1
  elif cmp -s "$TMP/config.toml" "$CONFIG"; then
    fix_meta "$CONFIG" 640 "$USER_NAME"
    [[ $LAST == changed ]] || say "unchanged  $CONFIG"
  else
    fix_meta "$CONFIG" 640 "$USER_NAME"
    if [[ -f $previous ]] && cmp -s "$SRC/docs/config.example.toml" "$previous"; then
      say "kept       $CONFIG (edited here; the example has not changed)"
    else
      say "kept       $CONFIG; the current example is beside it:"
      put "$TMP/config.toml" "$CONFIG.new" 640 "$USER_NAME"
      say "           compare: diff $CONFIG $CONFIG.new"
    fi
  fi
  put "$SRC/docs/config.example.toml" "$previous" 644 root
  # The rclone config (README, "Uploads"; or written by first-boot provisioning, 0600 root-only
  # when that ran before the group existed): the daemon reads it through its group.
  if [[ -f $ETC/rclone.conf ]]; then
    fix_meta "$ETC/rclone.conf" 640 "$USER_NAME"
    [[ $LAST == changed ]] || say "unchanged  $ETC/rclone.conf"
  fi
  # An edit that breaks the config would keep the daemon from starting: say so now.
  if ! recorder_cli config check --config "$(boxpath "$CONFIG")" >/dev/null 2>"$TMP/check.txt"; then
    warn "$CONFIG does not pass config check: $(tr '\n' ' ' <"$TMP/check.txt")"
  fi

  PREFIX=$(config_value "$CONFIG" mqtt prefix session-recorder)
  HA_PREFIX=$(config_value "$CONFIG" mqtt ha_prefix homeassistant)
  local p
  for p in "$PREFIX" "$HA_PREFIX"; do
    [[ $p =~ ^[A-Za-z0-9_/-]+$ ]] || die "[mqtt] prefix \"$p\" in $CONFIG: use letters, digits, _ / -"
  done
}

MQ_CHANGED=0
NEW_DASH_PASSWORD=""
SECRETS_AT_FIRST_BOOT=0
install_mosquitto() {
  step "Mosquitto: the box's broker, its users and the dashboard's listener"
  local mq_group=mosquitto
  if [[ -z $(gid_of mosquitto) ]]; then
    mq_group=root
    warn "no mosquitto group in $R/etc/group (mosquitto not installed?): its files are root:root, which mosquitto cannot read"
  fi
  put_dir "$MQ" 755 root
  put_dir "$MQ/conf.d" 755 root
  put "$SRC/dashboard/mosquitto/session-recorder.conf" "$MQ_CONF" 644 root
  [[ $LAST == unchanged ]] || MQ_CHANGED=1

  # The template stays on the box: first-boot provisioning renders it again when the device id
  # changes. The ACL for this box: the template's leading comment (how to render it) is
  # replaced. firmware/provision.py renders the very same text (render_acl).
  put_dir "$SHARE" 755 root
  put_dir "$SHARE/mosquitto" 755 root
  put "$SRC/dashboard/mosquitto/session-recorder.acl" "$ACL_TEMPLATE" 644 root
  {
    echo "# Session Recorder: who may do what on this box's mosquitto."
    echo "# Rendered for device \"$BOX_ID\", prefix \"$PREFIX\" from"
    echo "# $ACL_TEMPLATE_ON_BOX (install.sh; first-boot provisioning)."
    echo "# Anonymous access is off: a user may do only what is listed under its name."
    awk 'body || !/^#/ { body = 1; print }' "$SRC/dashboard/mosquitto/session-recorder.acl" |
      sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@DEVICE_ID@|$BOX_ID|g" -e "s|@HA_PREFIX@|$HA_PREFIX|g"
  } >"$TMP/acl"
  ! grep -q '@[A-Z_]*@' "$TMP/acl" || die "the ACL template has a placeholder install.sh does not know"
  if ! grep -q '^user recorder' "$TMP/acl" || ! grep -q '^user dashboard' "$TMP/acl"; then
    die "the rendered ACL lost its users: check dashboard/mosquitto/session-recorder.acl"
  fi
  put "$TMP/acl" "$MQ_ACL" 640 "$mq_group"
  [[ $LAST == unchanged ]] || MQ_CHANGED=1

  # An image (--root, or a chroot where systemd does not run) goes onto many boxes: passwords
  # made now would be the same on all of them. Each box makes its own at its first start
  # (firmware/provision.py, run by session-recorder-provision.service, sees the marker).
  if [[ ! -s $MQTT_PASS ]] && ! systemd_running; then
    printf '%s\n' "# The box makes its broker passwords at its first start, then removes this file." \
      "# (install.sh wrote it while building an image: firmware/README.md)" >"$TMP/marker"
    put "$TMP/marker" "$SECRETS_MARKER" 644 root
    SECRETS_AT_FIRST_BOOT=1
    return 0
  fi
  if [[ -e $SECRETS_MARKER ]]; then
    rm -f "$SECRETS_MARKER"
    changed "removed $SECRETS_MARKER (the passwords are made now)"
  fi
  # Passwords are made once and never rotated: the files in /etc/session-recorder are the
  # record, and a passwd file lost (say, by --uninstall) is made again from them.
  local recorder_pw="" dashboard_pw="" passwd_tool=() passwd_work=$TMP/passwd
  if command -v mosquitto_passwd >/dev/null; then
    passwd_tool=(mosquitto_passwd)
  elif ((CHROOT)) && [[ -x $R/usr/bin/mosquitto_passwd ]]; then
    passwd_tool=(chroot "$R" /usr/bin/mosquitto_passwd) # the image's, on a host without one
    passwd_work=$(boxpath "$TMP/passwd")
  fi
  if [[ -s $MQTT_PASS ]]; then recorder_pw=$(head -n1 "$MQTT_PASS"); fi
  if [[ -s $DASH_PASS ]]; then dashboard_pw=$(head -n1 "$DASH_PASS"); fi
  local has_recorder=0 has_dashboard=0
  if [[ -f $MQ_PASSWD ]]; then
    grep -q '^recorder:' "$MQ_PASSWD" && has_recorder=1
    grep -q '^dashboard:' "$MQ_PASSWD" && has_dashboard=1
  fi
  if [[ -z $recorder_pw ]]; then
    recorder_pw=$(random_password 32)
    # The broker's copy can only be checked, not read back: replace it.
    has_recorder=0
  fi
  if [[ ! -s $MQTT_PASS ]]; then
    (umask 077 && printf '%s\n' "$recorder_pw" >"$TMP/mqtt.pass")
    put "$TMP/mqtt.pass" "$MQTT_PASS" 640 "$USER_NAME"
    CONFIG_CHANGED=1 # a running daemon reads it only at start
  else
    fix_meta "$MQTT_PASS" 640 "$USER_NAME"
    [[ $LAST == changed ]] || say "unchanged  $MQTT_PASS (the daemon's broker password)"
  fi
  if ((has_dashboard == 0)) && [[ -z $dashboard_pw ]]; then
    dashboard_pw=$(random_password 16)
    NEW_DASH_PASSWORD=$dashboard_pw
  fi
  if [[ -n $dashboard_pw && ! -s $DASH_PASS ]]; then
    (umask 077 && printf '%s\n' "$dashboard_pw" >"$TMP/dashboard.pass")
    put "$TMP/dashboard.pass" "$DASH_PASS" 640 "$USER_NAME"
  elif [[ -s $DASH_PASS ]]; then
    # The web server (user session-recorder) checks the page's logins against it.
    fix_meta "$DASH_PASS" 640 "$USER_NAME"
    [[ $LAST == changed ]] || say "unchanged  $DASH_PASS (the page password)"
  else
    say "the dashboard user has a password set by hand (not in $DASH_PASS): kept"
  fi

  if ((has_recorder && has_dashboard)); then
    fix_meta "$MQ_PASSWD" 640 "$mq_group"
    [[ $LAST == changed ]] || say "unchanged  $MQ_PASSWD (users recorder, dashboard)"
  elif ((${#passwd_tool[@]} == 0)); then
    # With --root no package is ever installed into DIR, so a missing tool is not fatal there.
    if ((ROOTED)); then
      warn "mosquitto_passwd is missing: $MQ_PASSWD not made (run install.sh again where mosquitto is installed; the passwords in $ETC are kept)"
    else
      die "mosquitto_passwd is missing (Debian package mosquitto)"
    fi
  else
    # Edit a private copy, then install it whole: the broker never sees half a file. (-b puts
    # the password on mosquitto_passwd's command line for a moment; only root runs here.)
    (umask 077 && touch "$TMP/passwd" && if [[ -f $MQ_PASSWD ]]; then cat "$MQ_PASSWD" >"$TMP/passwd"; fi)
    if ((has_recorder == 0)); then
      "${passwd_tool[@]}" -b "$passwd_work" recorder "$recorder_pw"
    fi
    if ((has_dashboard == 0)); then
      "${passwd_tool[@]}" -b "$passwd_work" dashboard "$dashboard_pw"
    fi
    put "$TMP/passwd" "$MQ_PASSWD" 640 "$mq_group"
    MQ_CHANGED=1
  fi
}

install_dashboard() {
  step "Dashboard page $WEB"
  local dist=$SRC/dashboard/dist
  if [[ ! -f $dist/index.html ]] && command -v npm >/dev/null; then
    say "building the page: npm ci && npm run build in $SRC/dashboard"
    (cd "$SRC/dashboard" && npm ci --no-audit --no-fund && npm run build) ||
      die "the dashboard build failed"
    # Leave the checkout owned by whoever owns it, not by root.
    chown -R --reference="$SRC/dashboard" "$SRC/dashboard/node_modules" "$dist"
  fi
  if [[ ! -f $dist/index.html ]]; then
    if [[ -f $WEB/index.html ]]; then
      warn "no dashboard/dist in the checkout and no npm: kept the page already installed"
    else
      warn "no dashboard page: dashboard/dist is not built and npm is missing; build it on another machine (cd dashboard && npm ci && npm run build), copy dashboard/dist into this checkout and run install.sh again (README, The phone dashboard)"
      # The web server serves a stand-in page that says what is missing.
      put_dir "$SHARE" 755 root
      put_dir "$WEB" 755 root
      printf '%s\n' '<!doctype html><meta charset="utf-8"><title>Session Recorder</title>' \
        '<p>The dashboard page was not built when this box was installed: see README,' \
        '"The phone dashboard". The recorder itself works without it.</p>' >"$TMP/index.html"
      put "$TMP/index.html" "$WEB/index.html" 644 root
    fi
    return 0
  fi
  put_dir "$SHARE" 755 root
  if [[ -d $WEB ]] && diff -r -q "$dist" "$WEB" >/dev/null 2>&1; then
    say "unchanged  $WEB"
  else
    rm -rf "$WEB.install-tmp"
    cp -r "$dist" "$WEB.install-tmp"
    chown -R 0:0 "$WEB.install-tmp"
    chmod -R u=rwX,go=rX "$WEB.install-tmp"
    rm -rf "$WEB"
    mv "$WEB.install-tmp" "$WEB"
    changed "installed the dashboard page in $WEB"
  fi
}

UNIT_CHANGED=0
WEB_UNIT_CHANGED=0
RULE_CHANGED=0
PROVISION_CHANGED=0
install_units() {
  step "systemd units and udev rule"
  put_dir "$R/etc/systemd/system" 755 root
  put "$SRC/systemd/session-recorder.service" "$UNIT" 644 root
  [[ $LAST == unchanged ]] || UNIT_CHANGED=1
  put "$SRC/systemd/session-recorder-web.service" "$WEB_UNIT" 644 root
  [[ $LAST == unchanged ]] || WEB_UNIT_CHANGED=1
  # First-boot provisioning from a settings file on the boot partition (firmware/README.md),
  # when this checkout has it. Without that file the unit does nothing at boot.
  local fw=$SRC/firmware
  if [[ -f $fw/provision.py && -f $fw/session-recorder-provision.service ]]; then
    put_dir "$OPT/firmware" 755 root
    put "$fw/provision.py" "$OPT/firmware/provision.py" 755 root
    if [[ -f $fw/README.md ]]; then put "$fw/README.md" "$OPT/firmware/README.md" 644 root; fi
    put "$fw/session-recorder-provision.service" "$PROVISION_UNIT" 644 root
    [[ $LAST == unchanged ]] || PROVISION_CHANGED=1
  fi
  if [[ -n $USB_ID ]]; then
    {
      echo "# Session Recorder: the USB audio interface $USB_VENDOR:$USB_PRODUCT gets the stable ALSA"
      echo "# card id \"Recorder\" (use \"plughw:CARD=Recorder,DEV=0\" in config.toml)."
      echo "# Rendered by install.sh --usb-id from systemd/90-session-recorder-audio.rules."
      grep -v '^#' "$SRC/systemd/90-session-recorder-audio.rules" |
        sed -e "s|@VENDOR@|$USB_VENDOR|g" -e "s|@PRODUCT@|$USB_PRODUCT|g"
    } >"$TMP/rule"
    ! grep -q '@[A-Z_]*@' "$TMP/rule" || die "the udev rule template has an unknown placeholder"
    put_dir "$R/etc/udev/rules.d" 755 root
    put "$TMP/rule" "$RULE" 644 root
    [[ $LAST == unchanged ]] || RULE_CHANGED=1
  elif [[ -f $RULE ]]; then
    say "kept       $RULE (--usb-id VVVV:PPPP replaces it)"
  else
    say "no udev rule (--usb-id VVVV:PPPP gives the interface the stable card id Recorder)"
  fi
}

# recording_now: the running daemon says it is recording (or finalizing) a session.
recording_now() {
  local status
  status=$(RUNTIME_DIRECTORY=/run/session-recorder recorder_cli ctl status --json \
    --config /etc/session-recorder/config.toml 2>/dev/null) || return 1
  venv_python -c 'import json, sys
sys.exit(json.load(sys.stdin).get("state") not in ("recording", "finalizing"))' <<<"$status"
}

SERVICE_FAILED=0
start_services() {
  step "Services"
  if ((ROOTED)); then
    say "--root: services are not touched (in the image: systemctl enable session-recorder.service"
    say "  session-recorder-web.service mosquitto.service session-recorder-provision.service)"
    return 0
  fi
  if ((SERVICES == 0)); then
    say "--no-services: not enabled, started or restarted"
    return 0
  fi
  if ! systemd_running; then
    # A chroot building an image: enabling works offline, starting does not.
    warn "systemd is not running here: services enabled but not started"
    local unit
    for unit in session-recorder.service session-recorder-web.service mosquitto.service \
      session-recorder-provision.service; do
      [[ $unit != session-recorder-provision.service || -f $PROVISION_UNIT ]] || continue
      if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        systemctl enable --quiet "$unit"
        changed "enabled $unit"
      fi
    done
    return 0
  fi
  if ((UNIT_CHANGED || WEB_UNIT_CHANGED || PROVISION_CHANGED)); then systemctl daemon-reload; fi
  if ((RULE_CHANGED)); then
    udevadm control --reload
    # Renames a card that is already plugged in; replugging does the same.
    udevadm trigger --subsystem-match=sound --action=change
    changed "reloaded udev rules"
  fi
  if ! systemctl is-enabled --quiet mosquitto.service; then
    systemctl enable --quiet mosquitto.service
    changed "enabled mosquitto.service"
  fi
  if ((MQ_CHANGED)) || ! systemctl is-active --quiet mosquitto.service; then
    if systemctl restart mosquitto.service; then
      changed "restarted mosquitto.service (listeners 127.0.0.1:1883 and 127.0.0.1:9001)"
    else
      SERVICE_FAILED=1
      warn "mosquitto did not start: journalctl -u mosquitto"
    fi
  else
    say "unchanged  mosquitto.service running"
  fi
  if ! systemctl is-enabled --quiet session-recorder.service; then
    systemctl enable --quiet session-recorder.service
    changed "enabled session-recorder.service (starts at boot)"
  fi
  # Runs at boot only when a settings file is on the boot partition: enabled, never started here.
  if [[ -f $PROVISION_UNIT ]] && ! systemctl is-enabled --quiet session-recorder-provision.service; then
    systemctl enable --quiet session-recorder-provision.service
    changed "enabled session-recorder-provision.service (first-boot settings file)"
  fi
  start_web
  local action="" pending=$OPT/.restart-pending
  if ! systemctl is-active --quiet session-recorder.service; then
    action=start
  elif ((PACKAGE_CHANGED || UNIT_CHANGED || CONFIG_CHANGED)) || [[ -e $pending ]]; then
    action=restart
  fi
  # Never cut a session short for an upgrade: a restart would finalize it on SIGTERM. The next
  # run of install.sh (or a restart by hand) brings the new version in.
  if [[ $action == restart ]] && recording_now; then
    touch "$pending"
    warn "a session is being recorded: not restarted; after it, run install.sh again or: sudo systemctl restart session-recorder"
    return 0
  fi
  rm -f "$pending"
  if [[ -n $action ]]; then
    if systemctl "$action" session-recorder.service; then
      changed "${action}ed session-recorder.service"
    else
      SERVICE_FAILED=1
      warn "session-recorder did not start: journalctl -u session-recorder"
    fi
  else
    say "unchanged  session-recorder.service running"
  fi
}

# The web server holds no session: restarting it never cuts a recording short.
start_web() {
  if ! systemctl is-enabled --quiet session-recorder-web.service; then
    systemctl enable --quiet session-recorder-web.service
    changed "enabled session-recorder-web.service (the phone page, starts at boot)"
  fi
  local web_action=""
  if ! systemctl is-active --quiet session-recorder-web.service; then
    web_action=start
  elif ((PACKAGE_CHANGED || WEB_UNIT_CHANGED || CONFIG_CHANGED)); then
    web_action=restart
  fi
  if [[ -z $web_action ]]; then
    say "unchanged  session-recorder-web.service running"
  elif systemctl "$web_action" session-recorder-web.service; then
    changed "${web_action}ed session-recorder-web.service"
  else
    SERVICE_FAILED=1
    warn "the web server did not start: journalctl -u session-recorder-web"
  fi
}

summary() {
  step "Summary"
  if ((${#CHANGES[@]} == 0)); then
    say "Nothing changed: everything was already installed and up to date."
  else
    say "${#CHANGES[@]} changes (marked + above)."
  fi
  local version
  version=$(recorder_cli --version 2>/dev/null || echo "session-recorder (not runnable)")
  say ""
  say "Installed: $version, device id \"$BOX_ID\""
  say "  $VENV  the program: $VENV/bin/session-recorder"
  say "  $CONFIG  the config, yours to edit (0640 root:$USER_NAME)"
  say "  $MQTT_PASS  the daemon's broker password (0640 root:$USER_NAME)"
  say "  $DASH_PASS  the page password (0640 root:$USER_NAME)"
  say "  $UNIT"
  say "  $WEB_UNIT  the web server: the phone page and the recordings"
  if [[ -f $PROVISION_UNIT ]]; then
    say "  $PROVISION_UNIT  reads session-recorder.txt from the boot partition (firmware/README.md)"
  fi
  if [[ -f $RULE ]]; then say "  $RULE  the USB interface's card id: Recorder"; fi
  say "  $MQ_CONF, $MQ_ACL, $MQ_PASSWD  the broker"
  say "  $WEB  the phone page (served by session-recorder-web on port 80)"
  say "  $STATE  the recordings (systemd makes it at the first start)"

  local host="<box>"
  if ((ROOTED == 0)); then host=$(box_hostname); fi
  say ""
  say "Dashboard: on a phone in the same network open http://$host.local/"
  say "  (or http://<the box's IP address>/) and log in with the page password,"
  if ((SECRETS_AT_FIRST_BOOT)); then
    say "  password: made by each box at its first start (no two boxes share one). Choose it"
    say "  with dashboard_password in session-recorder.txt on the boot partition (firmware/)."
  elif [[ -n $NEW_DASH_PASSWORD ]]; then
    say "  password: $NEW_DASH_PASSWORD"
    say "  Shown this once; it is kept in /etc/session-recorder/dashboard.pass (0640)."
  else
    say "  password: as before (sudo cat /etc/session-recorder/dashboard.pass)."
  fi
  say ""
  say "Edit /etc/session-recorder/config.toml, then: sudo systemctl restart session-recorder"
  if [[ -f $RULE ]]; then
    say "  [audio] device = \"plughw:CARD=Recorder,DEV=0\" (the card id the udev rule gives)"
  else
    say "  [audio] device: the interface by card id (arecord -L), e.g. \"plughw:CARD=Device,DEV=0\""
  fi
  say "  [audio] rate, channels, format; [gpio] button and led (hardware/README.md)"
  say "  [upload] remote: make /etc/session-recorder/rclone.conf with a crypt remote (README,"
  say "    \"Setting up an encrypted remote\"); until then uploads are off and sessions stay here"
  if [[ -f $CONFIG.new ]]; then say "  a newer example is beside it: diff $CONFIG $CONFIG.new"; fi
  say "Check it: session-recorder ctl status; journalctl -u session-recorder -f"
  summary_warnings
  if ((SERVICE_FAILED)); then
    say ""
    say "Installed, but a service did not start: see the warnings."
    STEP="starting the services"
    return 1
  fi
}

main() {
  if ((UNINSTALL)); then
    echo "Session Recorder: uninstalling from ${R:-/}"
    uninstall
    return 0
  fi
  echo "Session Recorder: installing from $SRC into ${R:-/}"
  install_packages
  install_user
  install_venv
  install_config
  install_mosquitto
  install_dashboard
  install_units
  start_services
  summary
}

main
