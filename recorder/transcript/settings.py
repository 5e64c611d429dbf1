"""What a transcript is built with: the [transcript] section, as the worker gets it on its
command line (JSON), without importing the engines or numpy into the daemon."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from recorder.config import TranscriptSection


@dataclass(frozen=True)
class Settings:
    """What the worker needs of [transcript], passed to it as JSON on its command line."""

    engine: str = "auto"
    model_dir: str | None = None
    language: str = "en"
    speakers: tuple[str, ...] = ("Coach", "Client")
    threads: int = 1

    @classmethod
    def from_section(cls, section: TranscriptSection | None) -> Settings:
        s = section or TranscriptSection()
        return cls(
            s.engine,
            str(s.model_dir) if s.model_dir else None,
            s.language,
            tuple(s.speakers),
            s.threads,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        data["speakers"] = tuple(data["speakers"])
        return cls(**data)
