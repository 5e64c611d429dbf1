"""The port every speech engine implements, so the builder and its tests can use any of them."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from recorder.core.transcript.doc import Word


class EngineError(RuntimeError):
    """An engine that cannot run: the message says what is missing and which config key to set."""


class SpeechEngine(Protocol):
    name: str  # as `sessions --json` and the transcript show it: "pocketsphinx", "whisper"
    rate: int  # the sample rate `words` wants (16000 for both engines)

    def words(self, samples: np.ndarray, context: str | None = None) -> list[Word]:
        """The words in `samples` (float32, mono, at `rate`, -1..1), times from its start.

        `context` is the text said just before, for an engine that can use it (whisper takes
        it as its prompt); an engine that cannot ignores it.

        It may take long (seconds per minute of audio) and may hold the GIL: it runs in the
        transcript worker process, never in the daemon.
        """
        ...
