"""A session made ready to go: its deliverables, the steps (a transcript), and the files that go.

The deliverables (a lossless FLAC, and an MP3 for credential submissions) cost CPU and card
space, so they are built only when something will send them. A step is an extra: its failure
never holds back an upload. A session discarded while a step works on it is never uploaded.
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
    """The first step of each session in the outbox, before any upload."""

    def __init__(
        self,
        state: OutboxState,
        deliverables: bool,
        steps: Sequence[SessionStep],
        stopping: threading.Event,
    ) -> None:
        self.state = state
        self.deliverables = deliverables
        self.steps = tuple(steps)  # after the deliverables, before the upload (a transcript)
        self.stopping = stopping

    def prepare(self, s: StoredSession, m: Manifest) -> bool:
        """Build what goes with the session; False if it must not go on (discarded meanwhile,
        or the worker stopping)."""
        if self.deliverables:
            try:
                build_deliverables(s.path, m)
            except (DeliverableError, OSError) as exc:
                log.error("session %s: building deliverables failed: %s", s.id, exc)
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
        # discarded while its transcript was built: never uploaded
        return not (self.state.was_cancelled(s.id) or self.stopping.is_set())

    def files(self, path: Path, m: Manifest) -> list[str]:
        """The names that go up with the session in `path`."""
        files = [MANIFEST]
        if (path / LABELS_FILE).exists():
            files.append(LABELS_FILE)
        if (path / FLAC_NAME).exists():
            files.append(FLAC_NAME)  # lossless and verified against the segments: no WAVs needed
        else:
            files += [seg.file for seg in m.segments]
        if (path / MP3_NAME).exists():
            files.append(MP3_NAME)
        for step in self.steps:
            files += step.files(path)
        return files

    def cancel(self, folder: Path) -> None:
        """Stop every step working on `folder` (a discard: a transcript would hold it for
        minutes)."""
        for step in self.steps:
            step.cancel(folder)
