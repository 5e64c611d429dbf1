"""The two-voice espeak-ng speech of the tests lives in the package, for the demo too."""

from recorder.app.demo_voices import (
    ESPEAK,
    SCRIPT,
    VOICES,
    WORDS_PER_MINUTE,
    Said,
    conversation,
    say,
    to_int16,
)

__all__ = [
    "ESPEAK",
    "SCRIPT",
    "VOICES",
    "WORDS_PER_MINUTE",
    "Said",
    "conversation",
    "say",
    "to_int16",
]
