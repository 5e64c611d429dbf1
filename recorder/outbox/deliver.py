"""A session made ready to go: its deliverables, the steps (a transcript), and the files that go.

The deliverables (a lossless FLAC, and an MP3 for credential submissions) cost CPU and card
space, so they are built only when something will send them, and they go first. The steps come
after the audio is verified on the remote (with no remote, at once): a transcript takes about
as long as the session on a Pi, and the audio must not wait on the box for it. A step is an
extra: its failure never holds anything back. A session discarded while a step works on it is
never sent again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from recorder.core.manifest import Manifest
from recorder.media.deliverables import FLAC_NAME, MP3_NAME, DeliverableError, build_deliverables
from recorder.outbox.state import OutboxState
from recorder.ports.outbox import SessionStep
from recorder.store.markers import LABELS_FILE
from recorder.store.sessions import MANIFEST, StoredSession

log = logging.getLogger(__name__)


class Delivery:
    """What each session in the outbox is made into before it goes, and after."""

    def __init__(
        self,
        state: OutboxState,
        deliverables: bool,
        steps: Sequence[SessionStep],
        stopping: threading.Event,
    ) -> None:
        self.state = state
        self.deliverables = deliverables
        self.steps = tuple(steps)  # after the audio is verified (a transcript)
        self.stopping = stopping

    def prepare(self, s: StoredSession, m: Manifest) -> None:
        """Build the audio that goes with the session (a failure leaves its WAV segments to go)."""
        if self.deliverables:
            try:
                build_deliverables(s.path, m)
            except (DeliverableError, OSError) as exc:
                log.error("session %s: building deliverables failed: %s", s.id, exc)

    def follow(self, s: StoredSession, m: Manifest) -> bool:
        """Run the steps (build the transcript); False if the session must not go on
        (discarded meanwhile, or the worker stopping)."""
        if not self.steps:
            return True
        with self.state.working("stepping", s.id):
            for step in self.steps:
                if self.stopping.is_set():
                    return False
                try:
                    step.build(s.path, m)
                except Exception:  # a step is an extra: it never stops the upload
                    log.exception("session %s: %s failed", s.id, type(step).__name__)
        # discarded while its transcript was built: never sent
        return not (self.state.was_cancelled(s.id) or self.stopping.is_set())

    def files(self, path: Path, m: Manifest) -> list[str]:
        """The names that go up first with the session in `path`: its audio and record."""
        files = [MANIFEST]
        if (path / LABELS_FILE).exists():
            files.append(LABELS_FILE)
        if (path / FLAC_NAME).exists():
            files.append(FLAC_NAME)  # lossless and verified against the segments: no WAVs needed
        else:
            files += [seg.file for seg in m.segments]
        if (path / MP3_NAME).exists():
            files.append(MP3_NAME)
        return files

    def followup_files(self, path: Path) -> list[str]:
        """The names the steps made, sent after the audio on their own (the transcript)."""
        return [name for step in self.steps for name in step.files(path)]

    def cancel(self, folder: Path) -> None:
        """Stop every step working on `folder` (a discard: a transcript would hold it for
        minutes)."""
        for step in self.steps:
            step.cancel(folder)
