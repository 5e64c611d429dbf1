"""What the outbox needs: a remote to upload to, and steps to run on a session before it goes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol


class RemoteStore(Protocol):
    """Cloud storage behind rclone (recorder.adapters.rclone.client.Rclone); raises RcloneError.

    The transfers in flight are the remote's own: the outbox asks it to freeze them while a
    session records, to thaw them after, and to end them (shutdown, a discard of the session
    being sent); callable from any thread, each acts on every call in flight on this remote.
    """

    def upload(
        self,
        local_dir: Path,
        files: Sequence[str],
        remote_dir: str,
        force: bool = False,
        progress: Callable[[dict], None] | None = None,
    ) -> None: ...

    def verify(self, local_dir: Path, files: Sequence[str], remote_dir: str) -> list[str]:
        """Names missing or different on the remote; [] when every file is verified."""

    def purge(self, remote_dir: str) -> None: ...

    def link(self, remote_path: str) -> str | None: ...

    def pause_transfers(self) -> None: ...

    def resume_transfers(self) -> None: ...

    def stop_transfers(self) -> None:
        """End every call in flight: each fails as if the remote had (its caller retries)."""


class SessionStep(Protocol):
    """Work the outbox does on a finished session before uploading it (a transcript).

    `build` may take long and is run at low priority; `set_recording` freezes it while a
    session records; `cancel` stops it for a session being discarded.
    """

    def build(self, folder: Path, manifest) -> None: ...

    def files(self, folder: Path) -> list[str]:
        """The files it made that go up with the session."""
        ...

    def set_recording(self, recording: bool) -> None: ...

    def cancel(self, folder: Path) -> None: ...

    def stop(self) -> None: ...
