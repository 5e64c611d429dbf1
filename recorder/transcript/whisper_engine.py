"""faster-whisper: the better words, with the tiny.en model installed with the recorder
(recorder/transcript/models.py) or a bigger one in [transcript] model_dir. It never downloads
anything at run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    from faster_whisper import WhisperModel
except ImportError:  # a broken install: said when the engine is chosen
    WhisperModel = None

from recorder.core.transcript.doc import Word
from recorder.ports.speech import EngineError

# With the text before as its prompt, tiny.en often goes on after the speech ends and writes a
# segment of its own ("Thank you very much.", the last line again). Measured on the tests'
# speech: such segments had a no-speech probability of 0.62-0.86, the spoken ones 0.01-0.27.
PROMPTED_NO_SPEECH = 0.5


class WhisperEngine:
    name = "whisper"
    rate = 16000

    def __init__(
        self, model_dir: Path, language: str = "en", threads: int = 1, compute_type: str = "int8"
    ) -> None:
        if WhisperModel is None:
            raise EngineError(
                '[transcript] engine = "whisper" needs faster-whisper, which the recorder '
                "installs: reinstall it"
            )
        if not model_dir.is_dir() or not (model_dir / "model.bin").is_file():
            raise EngineError(
                f"[transcript] model_dir {model_dir}: no faster-whisper model there "
                "(a CTranslate2 folder with model.bin); the recorder never downloads one"
            )
        if not (model_dir / "tokenizer.json").is_file():
            # faster-whisper would fetch the tokenizer from the Hugging Face hub without it
            raise EngineError(
                f"[transcript] model_dir {model_dir}: tokenizer.json is missing "
                "(faster-whisper would download it; copy it into the model folder)"
            )
        self.language = language
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )

    def words(self, samples: np.ndarray, context: str | None = None) -> list[Word]:
        if samples.size == 0:
            return []
        segments, _ = self._model.transcribe(
            samples.astype(np.float32),
            language=self.language,
            word_timestamps=True,
            vad_filter=False,
            beam_size=5,
            initial_prompt=context or None,
        )
        # w.word keeps the leading space of a new word and none on a piece that continues one
        # (" day", "-to", "-day"): kept as the display, so the line reads "day-to-day".
        return [
            Word(
                w.word.strip(), float(w.start), float(w.end), round(float(w.probability), 4), w.word
            )
            for seg in segments
            if not (context and seg.no_speech_prob >= PROMPTED_NO_SPEECH)
            for w in (seg.words or [])
            if w.word.strip()
        ]
