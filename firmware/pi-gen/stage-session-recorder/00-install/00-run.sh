#!/bin/bash -e
# pi-gen runs this on the build host, in this directory. ROOTFS_DIR is the image's root file
# system; on_chroot runs its standard input inside it (both come from pi-gen).
# shellcheck disable=SC2154  # ROOTFS_DIR is set by pi-gen

SRC="files/session-recorder"  # a copy of the checkout, put here by firmware/pi-gen/prepare.sh
FIRMWARE="${SRC}/firmware"
BOOT="${ROOTFS_DIR}/boot/firmware"

if [ ! -x "${SRC}/install.sh" ]; then
	echo "stage-session-recorder: no checkout in ${PWD}/${SRC}; run firmware/pi-gen/prepare.sh" >&2
	exit 1
fi

# install.sh makes the venv inside the image through chroot, which needs /proc and /dev mounted
# there: on_chroot mounts them (00-packages has usually done so already).
on_chroot <<<":"

# The recorder: venv, units, udev rule, config, user and groups. Its Debian packages come from
# 00-packages; services are enabled below, inside the image (systemctl cannot reach into a root
# file system from outside).
"${SRC}/install.sh" --root "${ROOTFS_DIR}" --no-services --no-packages

# First-boot provisioning, unless the installer has already put it in place.
UNIT="${ROOTFS_DIR}/etc/systemd/system/session-recorder-provision.service"
if [ ! -e "${UNIT}" ]; then
	install -D -m 755 "${FIRMWARE}/provision.py" \
		"${ROOTFS_DIR}/opt/session-recorder/firmware/provision.py"
	install -D -m 644 "${FIRMWARE}/README.md" "${ROOTFS_DIR}/opt/session-recorder/firmware/README.md"
	install -D -m 644 "${FIRMWARE}/session-recorder-provision.service" "${UNIT}"
fi

# config.txt: the base image turns onboard audio on; switch that line off, then append the
# recorder's block (after removing one a previous build left, so it is there exactly once).
CONFIG_TXT="${BOOT}/config.txt"
sed -i -e 's/^dtparam=audio=on/#&  (session-recorder: see the block at the end)/' \
	-e '/^# >>> session-recorder/,/^# <<< session-recorder/d' "${CONFIG_TXT}"
cat "${FIRMWARE}/config.txt.fragment" >>"${CONFIG_TXT}"

# The journal in RAM, capped (see the file for why).
install -D -m 644 "${FIRMWARE}/journald-session-recorder.conf" \
	"${ROOTFS_DIR}/etc/systemd/journald.conf.d/session-recorder.conf"

# The settings template, where anyone finds it: on the boot partition, readable on any computer.
install -m 644 "${FIRMWARE}/session-recorder.txt.example" "${BOOT}/session-recorder.txt.example"

on_chroot <<-CHROOT
	systemctl enable session-recorder.service session-recorder-provision.service mosquitto.service
CHROOT
