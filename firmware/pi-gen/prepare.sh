#!/bin/bash
# Put the Session Recorder stage into a pi-gen checkout, with a copy of this checkout inside it
# (pi-gen, and its Docker build, only see files under its own directory).
#
#   firmware/pi-gen/prepare.sh PI_GEN_DIR
#
# Run it again after changing the recorder: it replaces the stage and the copy.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "${here}/../.." && pwd)
pigen=${1:?usage: prepare.sh PI_GEN_DIR}

if [ ! -f "${pigen}/build.sh" ]; then
	echo "prepare.sh: ${pigen} is not a pi-gen checkout (it has no build.sh)" >&2
	exit 1
fi

stage="${pigen}/stage-session-recorder"
copy="${stage}/00-install/files/session-recorder"
rm -rf "${stage}"
cp -r "${here}/stage-session-recorder" "${stage}"
mkdir -p "${copy}"
# The working tree as it is now (committed or not), without what is rebuilt or private:
# git metadata, virtualenvs, caches, test output. dashboard/dist stays: the box serves it.
tar -C "${src}" \
	--exclude=./.git --exclude=./.venv --exclude=node_modules --exclude=__pycache__ \
	--exclude=.pytest_cache --exclude=.ruff_cache --exclude='*.egg-info' \
	--exclude=./tests/artifacts --exclude=./build \
	-cf - . | tar -C "${copy}" -xf -

if [ ! -e "${pigen}/config" ]; then
	install -m 644 "${here}/config.example" "${pigen}/config"
	echo "wrote ${pigen}/config from config.example: read it before building"
fi
echo "stage ready: ${stage}"
echo "build with:  cd ${pigen} && sudo ./build.sh   (or ./build-docker.sh)"
