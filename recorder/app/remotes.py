"""The upload target built from `[upload]`: the one place that turns the config into an rclone remote."""

from __future__ import annotations

import logging

from recorder.config import UploadSection
from recorder.ports.outbox import RemoteStore

log = logging.getLogger(__name__)


def upload_remote(
    upload: UploadSection | None, given: RemoteStore | None = None
) -> tuple[RemoteStore | None, str | None]:
    """The upload target, or why there is none (the recorder records either way)."""
    if upload is None:
        return None, None
    if given is not None:
        return given, None
    # Imported here: rclone-python and its adapter load 64 modules (1.3 MB), for nothing when off.
    from recorder.adapters.rclone.client import Rclone, RcloneError

    flags = [f"--bwlimit={upload.bwlimit}"] if upload.bwlimit else []
    try:
        rclone = Rclone(
            upload.rclone_config, upload.rclone_binary, upload.config_password_file, flags
        )
    except (RcloneError, ValueError, OSError) as exc:
        log.error("uploads are off: %s", exc)
        return None, str(exc)
    return rclone, None
