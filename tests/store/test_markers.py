"""Markers at finalize: cue chunks in real segments and labels.txt, checked by independent readers.

sox and ffprobe must read the same audio before and after; libsndfile must read the cue points
back. libsndfile 1.2.2 (the version soundfile ships here) fills SF_CUE_POINT.name from the
`labl` chunks, so the labels are checked through libsndfile too; ffprobe reads them as chapter
titles; a small struct reader below checks the raw `labl` bytes, which neither of the others can
show whole (libsndfile keeps 256 bytes, ffmpeg 512).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import resource
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from soundfile import _ffi, _snd

from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest, Marker
from recorder.media.wav import SoundfileSegment, WavError, repair
from recorder.store.markers import add_cue_chunks, finalize_markers, write_labels
from tests.factories import make_manifest, segment_infos

RATE = 8000
SFC_GET_CUE_COUNT = 0x10CD
SFC_GET_CUE = 0x10CE
CUE_POINT = struct.Struct("<iIiiiI256s")  # libsndfile's SF_CUE_POINT, 280 bytes
MAX_CUES = 100  # SF_CUES holds this many points

HOSTILE = [
    "tab\there",
    "two\nlines\r\nand a CR\r",
    "$(rm -rf /); `reboot` 'quoted' \"double\" \\",
    "Zoë – ça va? 😀",
    "x" * 100 + "ÿ" * 50 + "y" * 50,  # 200 characters, 250 bytes of UTF-8
    "bell\x07, escape\x1b[31m, delete\x7f, next line\x85, separator\u2028end",
]


# ---- making and reading files ----------------------------------------------------------------


def noise(frames: int, channels: int, fmt: str, seed: int = 0) -> bytes:
    size = frames * channels * FORMATS[fmt].width
    return np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8).tobytes()


def make_segment(path: Path, frames: int, channels: int = 2, fmt: str = "S16_LE") -> bytes:
    data = noise(frames, channels, fmt, seed=frames)
    seg = SoundfileSegment(path, RATE, channels, fmt)
    seg.write(data)
    seg.close()
    return data


def sox_raw(path: Path) -> bytes:
    return subprocess.run(
        ["sox", str(path), "-t", "raw", "-"], capture_output=True, check=True
    ).stdout


def sox_duration(path: Path) -> str:
    return subprocess.run(
        ["sox", "--i", "-D", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_entries",
            "format=duration",
            "-show_chapters",
            str(path),
        ],
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(out)


def ffprobe_chapters(path: Path) -> list[tuple[int, int, str]]:
    """(id, start frame, title) of each chapter ffmpeg made from the cue points."""
    return [
        (c["id"], c["start"], c.get("tags", {}).get("title", "")) for c in ffprobe(path)["chapters"]
    ]


def libsndfile_cues(path: Path) -> list[tuple[int, int, int, int, bytes]]:
    """(indx, position, fcc_chunk, sample_offset, name) as libsndfile reads them."""
    with soundfile.SoundFile(path) as f:
        count = _ffi.new("uint32_t *")
        if not _snd.sf_command(f._file, SFC_GET_CUE_COUNT, count, 4):
            return []  # libsndfile says "no cues" this way
        size = 4 + MAX_CUES * CUE_POINT.size
        buf = _ffi.new("char[]", size)
        assert _snd.sf_command(f._file, SFC_GET_CUE, buf, size)
        raw = bytes(_ffi.buffer(buf))
    (n,) = struct.unpack_from("<I", raw)
    assert n == count[0]
    cues = []
    for i in range(n):
        indx, pos, fcc, _, _, offset, name = CUE_POINT.unpack_from(raw, 4 + i * CUE_POINT.size)
        # The name is copied from a stack buffer: only the bytes up to the NUL are meaningful.
        cues.append((indx, pos, fcc, offset, name.split(b"\0", 1)[0]))
    return cues


def chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """Every top-level chunk as (id, payload), walking the whole file with word alignment."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    found, pos = [], 12
    while pos < len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        found.append((cid, raw[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    assert pos == len(raw), "the last chunk must end exactly at the end of the file"
    return found


def labl_texts(path: Path) -> dict[int, bytes]:
    """Cue id -> raw label bytes (without the NUL) from the LIST/adtl chunk."""
    lists = [p for cid, p in chunks(path) if cid == b"LIST" and p[:4] == b"adtl"]
    assert len(lists) == 1
    payload, pos, texts = lists[0], 4, {}
    while pos < len(payload):
        cid, size = payload[pos : pos + 4], struct.unpack_from("<I", payload, pos + 4)[0]
        assert cid == b"labl"
        body = payload[pos + 8 : pos + 8 + size]
        assert body.endswith(b"\0") and b"\0" not in body[4:-1]
        texts[struct.unpack_from("<I", body)[0]] = body[4:-1]
        pos += 8 + size + (size & 1)
    assert pos == len(payload)
    return texts


def label_lines(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8")
    assert text.endswith("\n")
    # Split only on LF: any other line break inside a label would show up as a bad field count.
    return [line.split("\t") for line in text[:-1].split("\n")]


# ---- add_cue_chunks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "channels", "frames"),
    [
        ("S16_LE", 2, 4800),
        ("S24_3LE", 2, 4800),
        ("S32_LE", 2, 4800),
        ("S24_3LE", 1, 4801),  # 14403 bytes: an odd-sized data chunk with its pad byte
    ],
)
def test_cue_chunks_leave_the_audio_alone(tmp_path, fmt, channels, frames):
    path = tmp_path / "seg.wav"
    data = make_segment(path, frames, channels, fmt)
    before = path.read_bytes()
    sox_before, ff_before = sox_duration(path), ffprobe(path)["format"]["duration"]
    samples_before, _ = soundfile.read(path, dtype="int32")

    add_cue_chunks(path, [(0, "start"), (frames // 3, "middle"), (frames, "end")])

    after = path.read_bytes()
    assert after[8 : len(before)] == before[8:]  # only the RIFF size changed, at bytes 4..8
    assert sox_raw(path) == data
    assert sox_duration(path) == sox_before
    assert ffprobe(path)["format"]["duration"] == ff_before
    samples_after, rate = soundfile.read(path, dtype="int32")
    assert rate == RATE
    assert np.array_equal(samples_after, samples_before)
    ids = [cid for cid, _ in chunks(path)]
    assert ids == [b"fmt ", b"data", b"cue ", b"LIST"]
    assert dict(chunks(path))[b"data"] == data
    if len(data) % 2:  # the cue chunk starts after the pad byte, on an even offset
        assert after.index(b"cue ") == len(before) and len(before) % 2 == 0


@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE", "S32_LE"])
def test_libsndfile_and_ffprobe_read_the_cue_points_back(tmp_path, fmt):
    path = tmp_path / "seg.wav"
    make_segment(path, 3001, 1, fmt)
    cues = [(0, "first"), (1234, "second one"), (3001, "at the very end")]
    add_cue_chunks(path, cues)
    fcc_data = struct.unpack("<i", b"data")[0]
    assert libsndfile_cues(path) == [
        (n, offset, fcc_data, offset, label.encode()) for n, (offset, label) in enumerate(cues, 1)
    ]
    assert ffprobe_chapters(path) == [(n, o, t) for n, (o, t) in enumerate(cues, 1)]
    assert labl_texts(path) == {n: t.encode() for n, (_, t) in enumerate(cues, 1)}


def test_wave_format_extensible(tmp_path):
    path = tmp_path / "ext.wav"
    data = noise(999, 2, "S24_3LE")
    with soundfile.SoundFile(
        path, "w", samplerate=RATE, channels=2, subtype="PCM_24", format="WAVEX"
    ) as f:
        f.buffer_write(
            np.frombuffer(b"".join(b"\0" + data[i : i + 3] for i in range(0, len(data), 3)), "<i4"),
            "int32",
        )
    fmt_chunk = dict(chunks(path))[b"fmt "]
    assert struct.unpack_from("<H", fmt_chunk)[0] == 0xFFFE  # WAVE_FORMAT_EXTENSIBLE
    add_cue_chunks(path, [(10, "ten"), (999, "end")])
    assert sox_raw(path) == data
    assert [(c[0], c[1], c[4]) for c in libsndfile_cues(path)] == [
        (1, 10, b"ten"),
        (2, 999, b"end"),
    ]


def test_adding_cues_again_replaces_them(tmp_path):
    path = tmp_path / "a.wav"
    make_segment(path, 2001, 1, "S24_3LE")
    clean = path.read_bytes()
    once = tmp_path / "once.wav"
    shutil.copyfile(path, once)
    second = [(5, "only this"), (2000, "and this")]
    add_cue_chunks(once, second)

    add_cue_chunks(path, [(1, "old one"), (2, "old two"), (3, "old three with a long label")])
    add_cue_chunks(path, second)
    assert path.read_bytes() == once.read_bytes()
    assert path.stat().st_size == once.stat().st_size
    assert [c[1] for c in libsndfile_cues(path)] == [5, 2000]
    assert labl_texts(path) == {1: b"only this", 2: b"and this"}

    add_cue_chunks(path, [])  # no cues: the file is as libsndfile left it
    assert path.read_bytes() == clean
    assert libsndfile_cues(path) == []


def test_hostile_labels_round_trip_in_labl_and_stay_on_one_line(tmp_path):
    path = tmp_path / "seg.wav"
    make_segment(path, 1000)
    cues = [(i * 100, label) for i, label in enumerate(HOSTILE)]
    add_cue_chunks(path, cues)
    assert labl_texts(path) == {n: label.encode() for n, (_, label) in enumerate(cues, 1)}
    assert [c[4] for c in libsndfile_cues(path)] == [label.encode() for label in HOSTILE]
    assert sox_raw(path) == noise(1000, 2, "S16_LE", seed=1000)

    markers = [Marker(frame=o, seconds=o / RATE, label=label) for o, label in cues]
    lines = label_lines(write_labels(tmp_path, markers, RATE))
    assert len(lines) == len(HOSTILE)
    for fields, label in zip(lines, HOSTILE, strict=True):
        assert len(fields) == 3
        assert fields[0] == fields[1]
        assert len(fields[2]) == len(label)  # one space for each control character
        assert fields[2].strip(" ") and not any(c in fields[2] for c in "\t\r\n\x07\x1b\x7f\x85")
        assert "\u2028" not in fields[2]
    assert lines[3][2] == "Zoë – ça va? 😀"
    assert lines[1][2] == "two lines  and a CR "
    assert lines[2][2] == HOSTILE[2]


def test_a_label_far_longer_than_readers_keep_is_stored_whole(tmp_path):
    path = tmp_path / "seg.wav"
    make_segment(path, 100)
    label = "😀" * 200  # 800 bytes: libsndfile shows 256 of them, ffmpeg 511
    add_cue_chunks(path, [(50, label), (60, "a\0b")])
    assert labl_texts(path) == {1: label.encode(), 2: b"a b"}  # a NUL would end the C string
    assert [c[1] for c in libsndfile_cues(path)] == [50, 60]


@pytest.mark.parametrize("offset", [-1, 101, 10**9])
def test_an_offset_outside_the_file_is_a_value_error(tmp_path, offset):
    path = tmp_path / "seg.wav"
    make_segment(path, 100)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="outside"):
        add_cue_chunks(path, [(0, "fine"), (offset, "bad")])
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello, this is not a wav file at all\n",
        b"RIFF\x10\x00\x00\x00WAVEJUNK\x02\x00\x00\x00ab",  # no data chunk
        b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd",  # data before fmt
        b"RF64\xff\xff\xff\xffWAVE",
    ],
)
def test_a_file_that_is_not_a_wav_is_a_wav_error(tmp_path, content):
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(WavError):
        add_cue_chunks(path, [(0, "x")])
    assert path.read_bytes() == content


def test_a_data_chunk_longer_than_the_file_is_a_wav_error(tmp_path):
    path = tmp_path / "seg.wav"
    make_segment(path, 100)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 10)
    with pytest.raises(WavError, match="repair"):
        add_cue_chunks(path, [(0, "x")])


def test_a_write_error_leaves_no_half_chunk_behind_the_audio(tmp_path):
    path = tmp_path / "seg.wav"
    make_segment(path, 1001, 1, "S24_3LE")  # odd-sized data: the pad byte must survive too
    clean = path.read_bytes()
    add_cue_chunks(path, [(1, "old")])
    # The kernel refuses writes past RLIMIT_FSIZE (EFBIG): a real write error, like a full disk,
    # halfway through the new chunks. The limit holds for this process only while we write.
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(clean) + 20, hard))
    try:
        with pytest.raises(OSError) as err:
            add_cue_chunks(path, [(n, f"new label {n}") for n in range(10)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert err.value.errno == errno.EFBIG
    assert path.read_bytes() == clean
    assert repair(path) == (1001, False)
    assert libsndfile_cues(path) == []


# ---- labels.txt -------------------------------------------------------------------------------


def test_labels_file_is_audacity_format_in_frame_order(tmp_path):
    markers = [
        Marker(frame=48000, seconds=1.0, label="later"),
        Marker(frame=1, seconds=0.0, label=""),
        Marker(frame=7, seconds=0.0, label="b"),
    ]
    path = write_labels(tmp_path, markers, 48000)
    assert path == tmp_path / "labels.txt"
    assert path.read_text(encoding="utf-8") == (
        "0.000021\t0.000021\tmarker 1\n0.000146\t0.000146\tb\n1.000000\t1.000000\tlater\n"
    )
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_no_markers_means_no_labels_file(tmp_path):
    assert not write_labels(tmp_path, [], RATE).exists()
    stale = write_labels(tmp_path, [Marker(frame=0, seconds=0, label="x")], RATE)
    assert stale.exists()
    assert write_labels(tmp_path, [], RATE) == stale
    assert not stale.exists()


# ---- finalize_markers -------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def three_segments(session: Path, markers: list[Marker]) -> Manifest:
    session.mkdir()
    lengths = [8000, 8000, 3000]
    for index, frames in enumerate(lengths):
        make_segment(session / f"seg-{index:04d}.wav", frames, 2, "S16_LE")
    segments = segment_infos(lengths, first_pos=500, folder=session)
    return make_manifest(
        id="000007-20260314T092653Z", rate=RATE, start_pos=500, segments=segments, markers=markers
    )


def marker(frame: int, label: str) -> Marker:
    return Marker(frame=frame, seconds=round(frame / RATE, 3), label=label)


def test_finalize_puts_each_marker_in_its_segment(tmp_path):
    session = tmp_path / "000007-20260314T092653Z"
    manifest = three_segments(
        session,
        [
            marker(100, "intro"),
            marker(7999, "last frame of the first segment"),
            marker(16000, ""),  # the boundary: the third segment's first frame
            marker(19000, "the very end"),  # == manifest.frames
        ],
    )
    middle = manifest.segments[1].model_copy()
    middle_bytes = (session / middle.file).read_bytes()

    finalize_markers(session, manifest)

    fcc = struct.unpack("<i", b"data")[0]
    first, second, third = (session / s.file for s in manifest.segments)
    assert libsndfile_cues(first) == [
        (1, 100, fcc, 100, b"intro"),
        (2, 7999, fcc, 7999, b"last frame of the first segment"),
    ]
    assert libsndfile_cues(second) == []
    assert libsndfile_cues(third) == [
        (1, 0, fcc, 0, b"marker 3"),
        (2, 3000, fcc, 3000, b"the very end"),
    ]
    assert ffprobe_chapters(third) == [(1, 0, "marker 3"), (2, 3000, "the very end")]
    assert second.read_bytes() == middle_bytes
    assert manifest.segments[1] == middle
    for seg in manifest.segments:
        file = session / seg.file
        assert seg.bytes == file.stat().st_size
        assert seg.sha256 == sha256(file)
    assert manifest.segments[0].bytes > middle.bytes
    for seg, frames in zip(manifest.segments, [8000, 8000, 3000], strict=True):
        assert sox_raw(session / seg.file) == noise(frames, 2, "S16_LE", seed=frames)
    assert (session / "labels.txt").read_text(encoding="utf-8") == (
        "0.012500\t0.012500\tintro\n"
        "0.999875\t0.999875\tlast frame of the first segment\n"
        "2.000000\t2.000000\tmarker 3\n"
        "2.375000\t2.375000\tthe very end\n"
    )

    before = [s.model_copy() for s in manifest.segments]
    finalize_markers(session, manifest)  # again, as after a crash during finalize
    assert manifest.segments == before


def test_finalize_without_markers_touches_nothing(tmp_path):
    session = tmp_path / "s"
    manifest = three_segments(session, [])
    before = {p.name: p.read_bytes() for p in session.iterdir()}
    segments = [s.model_copy() for s in manifest.segments]
    finalize_markers(session, manifest)
    assert {p.name: p.read_bytes() for p in session.iterdir()} == before
    assert manifest.segments == segments


def test_a_damaged_segment_costs_only_its_own_cues(tmp_path, caplog):
    session = tmp_path / "s"
    manifest = three_segments(session, [marker(10, "a"), marker(9000, "b"), marker(17000, "c")])
    (session / "seg-0001.wav").write_bytes(b"not a wav any more")
    damaged = manifest.segments[1].model_copy()
    (session / "seg-0002.wav").unlink()
    with caplog.at_level(logging.ERROR, logger="recorder.store.markers"):
        finalize_markers(session, manifest)
    assert [c[4] for c in libsndfile_cues(session / "seg-0000.wav")] == [b"a"]
    assert manifest.segments[1] == damaged  # the evidence of damage is kept
    assert manifest.segments[0].sha256 == sha256(session / "seg-0000.wav")
    assert "seg-0001.wav" in caplog.text and "seg-0002.wav" in caplog.text
    assert len(label_lines(session / "labels.txt")) == 3
