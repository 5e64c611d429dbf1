#!/bin/bash -e
# pi-gen runs this first: start from the root file system of the stage before (stage2, Lite).
if [ ! -d "${ROOTFS_DIR}" ]; then
	copy_previous
fi
