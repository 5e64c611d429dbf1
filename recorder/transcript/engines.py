"""The one place that picks a speech engine for [transcript] engine."""

from __future__ import annotations

from pathlib import Path

from recorder.ports.speech import EngineError, SpeechEngine

ENGINES = ("pocketsphinx", "whisper")  # "auto" is resolved before: models.choose


def make_engine(
    name: str, model_dir: str | Path | None, language: str = "en", threads: int = 1
) -> SpeechEngine:
    # Imported here: an engine loads its library and model (tens of MB) only when it is chosen.
    if name == "pocketsphinx":
        from recorder.transcript.pocketsphinx_engine import PocketsphinxEngine

        return PocketsphinxEngine()
    if name == "whisper":
        from recorder.transcript.whisper_engine import WhisperEngine

        if model_dir is None:
            from recorder.transcript.models import MODEL_PACKAGE, bundled_model_dir

            model_dir = bundled_model_dir()
            if model_dir is None:
                raise EngineError(
                    f'[transcript] engine = "whisper": the model package {MODEL_PACKAGE} is not '
                    "installed and [transcript] model_dir is not set"
                )
        return WhisperEngine(Path(model_dir), language=language, threads=threads)
    raise EngineError(f"[transcript] engine {name!r} is not one of {', '.join(ENGINES)}")
