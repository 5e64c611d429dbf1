"""Single-file deliverables built from a finished session: a lossless FLAC, a credential MP3,
and (on request) one joined WAV.

The WAV segments stay the record; these files are derived from them. Each is written to a
temporary file beside its destination, fsynced, checked, and renamed into place, so a crash or
a full card leaves either the old file or none, never half of one.

- FLAC replaces the segments for upload, so it must be provably lossless: after writing it is
  decoded again and every sample is compared with the segments (`verify_flac`). Everything
  streams in blocks of `BLOCK_FRAMES`; a 4-hour session never has to fit in memory.
  libsndfile's FLAC stores at most 24 bits. S32_LE sessions therefore get no FLAC from
  `flac_subtype` (the uploader sends their WAV segments); `build_flac` and `export` still make
  one when every sample's low byte is 0 (a 24-bit converter delivering S32_LE, which is common),
  and refuse with `DeliverableError` at the first sample that is not.
- MP3 is for people (ICF accepts one mp3/m4a file, under about 95 MB for 60 minutes; IAC prefers
  mp3): mono, constant bitrate, `mp3_bitrate_kbps()` (64 kbps = 28.8 MB an hour). The channels
  are averaged in float, which cannot overflow or clip and keeps 24-bit detail; libsndfile hands
  normalised floats straight to LAME (`lame_encode_buffer_ieee_float`). MP3 stops at 48 kHz: a
  session at another rate is resampled on the way (`mp3_rate`: 96000 -> 48000, 88200 -> 44100)
  by libsoxr (python-soxr's `ResampleStream`, HQ), block by block like everything else.
  Its filter rings a little above full scale on full-scale edges; LAME takes floats and
  encodes those as they are (nothing wraps), as it does its own overshoot.
- Tags (`session_tags`): TITLE is the session's display name once the coach named it ("Sam ·
  Goals review"), else its id; ARTIST the client, TRACKNUMBER the session number (when set),
  ALBUM "Session Recorder", DATE and SOFTWARE. The coach's notes never go into a file: these
  files are the ones handed to clients, mentors and assessors. The FLAC gets them as Vorbis
  comments from libsndfile. For MP3, libsndfile (LAME's id3tag) writes only an ID3v1 tag:
  30-byte fields cutting UTF-8 mid-character, a 28-byte comment, the year; so the MP3 gets an
  ID3v2.3 tag from mutagen instead (UTF-16 text, read by ffprobe and every player), no ID3v1.
  `recorder.coaching.tags.retag` rewrites both after the coach changes them.
- Markers: `labels.txt` stays the sidecar. The FLAC also carries them, as text in its COMMENT
  (one `h:mm:ss.mmm label` line each): libsndfile only writes fixed keys (no CHAPTERnnn, no
  CUESHEET), so this is what it allows simply. The MP3 carries none. A joined WAV export gets
  them as cue points, as the segments do.
- `export(..., from_start=True)` leaves out the pre-roll (the frames before the start press),
  for a credential submission of the session itself; markers move back with it, those in the
  pre-roll are left out. The segments are read from that frame on, still in blocks.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile
from mutagen.id3 import COMM, ID3, TALB, TDRC, TIT2, TPE1, TRCK, TSSE, Encoding

from recorder.core.coaching.details import Details, display_name, read_details
from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest
from recorder.store.files import fsync_dir
from recorder.store.markers import add_cue_chunks, marker_labels

FLAC_NAME = "session.flac"
MP3_NAME = "session.mp3"
EXPORT_FORMATS = ("flac", "mp3", "wav")
ALBUM = "Session Recorder"
SOFTWARE = "session-recorder"
ID3_VERSION = 3  # ID3v2.3: what every player reads (v2.4 is still missing in some)

BLOCK_FRAMES = 1 << 15  # 0.7 s at 48 kHz: a few MB of numpy buffers whatever the session length

SPEECH_KBPS_PER_CHANNEL = 64
# Layer III bitrates (kbps): MPEG-1 for 32-48 kHz, MPEG-2/2.5 below.
MPEG1_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MPEG2_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
FLAC_MAX_CHANNELS = 8
_RIFF_LIMIT = 0xFFFFFFFF - (1 << 20)  # data bytes beyond which a WAV needs RF64 (header slack)
_INT32_SCALE = 1.0 / (1 << 31)


class DeliverableError(ValueError):
    """A deliverable that cannot be built or is not what it should be; names session and file."""


def mp3_bitrate_kbps(max_mb_per_hour: float = 95.0, channels: int = 1) -> int:
    """The CBR bitrate of credential MP3s: 64 kbps per channel of speech, within the budget.

    64 kbps mono is plenty for speech and far inside ICF's limit:
    64 000 bit/s × 3600 s / 8 = 28 800 000 bytes = 28.8 MB for 60 minutes (95 MB allows up to
    211 kbps). The result is a standard MPEG-1 Layer III bitrate, capped to the largest one whose
    hour fits `max_mb_per_hour` (decimal MB, the stricter reading).
    """
    budget_kbps = max_mb_per_hour * 1e6 * 8 / 3600 / 1000
    ceiling = min(budget_kbps, SPEECH_KBPS_PER_CHANNEL * channels)
    fitting = [k for k in MPEG1_KBPS if k <= ceiling]
    if not fitting:
        raise ValueError(f"no MP3 bitrate keeps an hour under {max_mb_per_hour} MB")
    return fitting[-1]


def mp3_compression_level(kbps: int, rate: int) -> float:
    """The libsndfile compression level that makes LAME encode CBR at `kbps` for this rate.

    libsndfile (src/mpeg_l3_encode.c, mpeg_l3_encoder_set_quality) sets
    `bitrate = (int) (hi - level × (hi - lo))` with [lo, hi] = [32, 320] for MPEG-1 (≥ 32 kHz),
    [8, 160] for MPEG-2 (≥ 16 kHz) and [8, 64] for MPEG-2.5, and hands it to lame_set_brate in
    CONSTANT mode. Aiming at kbps + 0.5 makes the truncation land on kbps whatever the float
    rounding; level 1.0 itself is refused by libsndfile, so it is never produced.
    """
    lo, hi = (32, 320) if rate >= 32000 else (8, 160) if rate >= 16000 else (8, 64)
    return min(max((hi - (kbps + 0.5)) / (hi - lo), 0.0), 0.999)


def mp3_rate(rate: int) -> int:
    """The rate a session recorded at `rate` gets in its MP3: its own where MP3 has it, else the
    nearest MP3 rate that loses no band MP3 could carry.

    Above 48 kHz: 44100 for the 44.1 kHz family (88200, 176400: an integer ratio), else 48000.
    Below, between two MP3 rates: the next one up (e.g. 20000 -> 22050).
    """
    if rate in MP3_RATES:
        return rate
    if rate > MP3_RATES[-1]:
        return 44100 if rate % 11025 == 0 else 48000
    return next(r for r in MP3_RATES if r > rate)


def flac_subtype(manifest: Manifest) -> str | None:
    """The FLAC subtype that holds this session losslessly, or None when none can.

    None for S32_LE (libsndfile's FLAC stores at most 24 bits; whether the low byte is unused
    cannot be told from the manifest) and for more channels than FLAC carries.
    """
    if manifest.audio.channels > FLAC_MAX_CHANNELS:
        return None
    return {"S16_LE": "PCM_16", "S24_3LE": "PCM_24"}.get(manifest.audio.format)


def _where(manifest: Manifest, name: str) -> str:
    return f"session {manifest.id}: {name}"


def _total_frames(manifest: Manifest) -> int:
    return sum(seg.frames for seg in manifest.segments)


def session_blocks(
    session_dir: Path, manifest: Manifest, block_frames: int = BLOCK_FRAMES, start_frame: int = 0
) -> Iterator[tuple[str, int, np.ndarray]]:
    """(segment file, session frame, block) for the session in order, as int32 frames, from
    session frame `start_frame` (the pre-roll's length, to begin at the start press) to the end.

    libsndfile returns every PCM width left-aligned in int32 (16-bit << 16, 24-bit << 8), and
    its FLAC and WAV writers take int32 the same way, so values pass through unchanged. Each
    segment must be what the manifest says it is, or DeliverableError names it. The yielded
    array is reused for the next block.
    """
    audio = manifest.audio
    subtype = FORMATS[audio.format].subtype
    buf = np.empty((block_frames, audio.channels), dtype=np.int32)
    frame = 0
    for seg in manifest.segments:
        path = session_dir / seg.file
        try:
            f = soundfile.SoundFile(path)
        except (OSError, RuntimeError) as exc:  # LibsndfileError is a RuntimeError
            raise DeliverableError(f"{_where(manifest, seg.file)}: cannot read: {exc}") from None
        with f:
            found = (f.samplerate, f.channels, f.subtype, f.frames)
            expected = (audio.rate, audio.channels, subtype, seg.frames)
            if found != expected:
                raise DeliverableError(
                    f"{_where(manifest, seg.file)}: (rate, channels, subtype, frames) "
                    f"is {found}, the manifest says {expected}"
                )
            skip = min(max(start_frame - frame, 0), seg.frames)
            if skip:
                f.seek(skip)
                frame += skip
            left = seg.frames - skip
            while left:
                block = f.read(
                    min(left, block_frames), dtype="int32", out=buf[: min(left, block_frames)]
                )
                if not len(block):
                    raise DeliverableError(
                        f"{_where(manifest, seg.file)}: ends {left} frames early"
                    )
                yield seg.file, frame, block
                frame += len(block)
                left -= len(block)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A temp file beside `out` to build into; removed if building it fails in any way."""
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _one_line(text: str) -> str:
    # A label or a hand-edited manifest may hold anything: control characters and line breaks
    # become spaces (each marker keeps its own line), format characters such as bidi overrides
    # go, and the string stays valid UTF-8 (a lone surrogate becomes "?").
    clean = "".join(
        " " if cat in ("Cc", "Zl", "Zp") else "" if cat == "Cf" else c
        for c, cat in ((c, unicodedata.category(c)) for c in text)
    )
    return clean.encode("utf-8", "replace").decode("utf-8")


def _clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def markers_comment(manifest: Manifest) -> str:
    """The markers as the FLAC's COMMENT: one `h:mm:ss.mmm label` line each, in time order."""
    return "\n".join(
        f"{_clock(m.frame / manifest.audio.rate)} {_one_line(text)}"
        for m, text in marker_labels(manifest.markers)
    )


def _details(manifest: Manifest) -> Details:
    # Damaged details read as none (read_details reports the problem where sessions are listed).
    return read_details((manifest.model_extra or {}).get("details"))[0]


def coach_name(manifest: Manifest) -> str | None:
    """The display name ("Sam · Goals review") once the coach gave a client, title or number;
    None for a session known only by its id."""
    details = _details(manifest)
    if not (details.client or details.title or details.number):
        return None
    return display_name(details, manifest.started_at)


def session_tags(manifest: Manifest, *, with_markers: bool) -> dict[str, str]:
    """The tags a deliverable of this session carries, by libsndfile's names (title, artist,
    album, tracknumber, date, comment, software); a key without a value is left out.

    The coach's notes are left out on purpose: they are private working notes, and these files
    are the ones shared with clients, mentors and assessors. Every value is one line of plain
    text whatever the manifest holds (the comment: one line per marker).
    """
    details = _details(manifest)
    tags = {
        "title": _one_line(coach_name(manifest) or manifest.id),
        "artist": _one_line(details.client),
        "album": ALBUM,
        "tracknumber": str(details.number) if details.number else "",
        "date": _one_line(manifest.started_at),
        "comment": markers_comment(manifest) if with_markers else "",
        "software": SOFTWARE,
    }
    return {key: value for key, value in tags.items() if value.strip()}


def _tag(f: soundfile.SoundFile, manifest: Manifest, with_markers: bool) -> None:
    # libsndfile writes strings with the header, so they must be set before any audio.
    for key, value in session_tags(manifest, with_markers=with_markers).items():
        setattr(f, key, value)


_ID3_FRAMES = {"title": TIT2, "artist": TPE1, "album": TALB, "tracknumber": TRCK, "software": TSSE}


def _id3_date(started_at: str) -> str:
    # An ID3 timestamp has no zone: the time as the box recorded it, as display names show it.
    try:
        return datetime.fromisoformat(started_at).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return ""


def id3_tag(tags: dict[str, str]) -> ID3:
    """`session_tags` as an ID3 tag (save it with `v2_version=ID3_VERSION, v1=0`)."""
    tag = ID3()
    for key, value in tags.items():
        if key == "comment":
            tag.add(COMM(encoding=Encoding.UTF8, lang="eng", desc="", text=value))
        elif key == "date":
            if date := _id3_date(value):
                tag.add(TDRC(encoding=Encoding.UTF8, text=date))
        else:
            tag.add(_ID3_FRAMES[key](encoding=Encoding.UTF8, text=value))
    return tag


def _place(tmp: Path, out: Path) -> Path:
    os.replace(tmp, out)
    fsync_dir(out.parent)
    return out


def _check_has_audio(manifest: Manifest, name: str, start_frame: int = 0) -> None:
    if not manifest.segments or _total_frames(manifest) == 0:
        raise DeliverableError(f"{_where(manifest, name)}: the session has no audio")
    if start_frame >= _total_frames(manifest):
        raise DeliverableError(
            f"{_where(manifest, name)}: the session has no audio after the start press "
            f"(frame {start_frame} of {_total_frames(manifest)})"
        )


def _from_frame(manifest: Manifest, start_frame: int) -> Manifest:
    """The manifest as a file beginning at session frame `start_frame` sees it: its markers
    moved back by that much, those before it (in the pre-roll) left out. Unnamed markers keep
    the "marker N" of the whole session, so they match labels.txt."""
    if not start_frame:
        return manifest
    rate = manifest.audio.rate
    markers = [
        m.model_copy(
            update={
                "frame": m.frame - start_frame,
                "seconds": round((m.frame - start_frame) / rate, 3),
                "label": text,
            }
        )
        for m, text in marker_labels(manifest.markers)
        if m.frame >= start_frame
    ]
    return manifest.model_copy(update={"markers": markers})


def verify_flac(
    session_dir: Path, manifest: Manifest, flac_path: Path, start_frame: int = 0
) -> None:
    """Decode `flac_path` and compare every sample with the session's segments, block by block
    (from session frame `start_frame`: a file that leaves out the pre-roll).

    Raises DeliverableError naming the segment and frame of the first difference, or a wrong
    rate, channel count or length. Works for any lossless file libsndfile reads (WAV too).
    """
    name = flac_path.name
    try:
        f = soundfile.SoundFile(flac_path)
    except (OSError, RuntimeError) as exc:
        raise DeliverableError(f"{_where(manifest, name)}: cannot read: {exc}") from None
    with f:
        audio = manifest.audio
        total = _total_frames(manifest) - start_frame
        found = (f.samplerate, f.channels, f.frames)
        if found != (audio.rate, audio.channels, total):
            raise DeliverableError(
                f"{_where(manifest, name)}: (rate, channels, frames) is {found}, "
                f"the session is {(audio.rate, audio.channels, total)}"
            )
        copy = np.empty((BLOCK_FRAMES, audio.channels), dtype=np.int32)
        with closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks:
            for seg_file, frame, block in blocks:
                got = f.read(len(block), dtype="int32", out=copy[: len(block)])
                if len(got) != len(block) or not np.array_equal(got, block):
                    bad = frame + _first_difference(got, block)
                    raise DeliverableError(
                        f"{_where(manifest, name)}: differs from {seg_file} at session frame {bad}"
                    )


def _first_difference(got: np.ndarray, want: np.ndarray) -> int:
    n = min(len(got), len(want))
    rows = np.flatnonzero((got[:n] != want[:n]).any(axis=1))
    return int(rows[0]) if len(rows) else n


def build_flac(session_dir: Path, manifest: Manifest, out: Path, *, start_frame: int = 0) -> Path:
    """Join the segments sample-exact into one FLAC at `out`, verified before it appears; from
    session frame `start_frame` on (0: the whole session, pre-roll included).

    S16_LE and S24_3LE always fit. S32_LE fits only when every sample's low byte is 0 (a
    24-bit converter delivering 32-bit words); otherwise DeliverableError at the first sample
    that would lose bits, and the segments are what to keep or send.
    """
    audio = manifest.audio
    _check_has_audio(manifest, out.name, start_frame)
    s32 = audio.format == "S32_LE"
    subtype = "PCM_24" if s32 and audio.channels <= FLAC_MAX_CHANNELS else flac_subtype(manifest)
    if subtype is None:
        raise DeliverableError(
            f"{_where(manifest, out.name)}: FLAC cannot hold {audio.format} × {audio.channels} "
            f"channels losslessly; use the WAV segments"
        )
    with _staged(out) as tmp:
        with (
            soundfile.SoundFile(
                tmp, "w", audio.rate, audio.channels, subtype=subtype, format="FLAC"
            ) as f,
            closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks,
        ):
            _tag(f, _from_frame(manifest, start_frame), with_markers=True)
            for seg_file, frame, block in blocks:
                if s32 and np.any(block & 0xFF):
                    at = frame + int(np.flatnonzero((block & 0xFF).any(axis=1))[0])
                    raise DeliverableError(
                        f"{_where(manifest, out.name)}: {seg_file} uses all 32 bits (session "
                        f"frame {at}); FLAC stores at most 24, so this session has no lossless "
                        f"FLAC: use the WAV segments"
                    )
                f.write(block)
        _fsync_file(tmp)
        verify_flac(session_dir, manifest, tmp, start_frame)
        return _place(tmp, out)


def _downmix(block: np.ndarray) -> np.ndarray:
    """Mean of the channels as float32 in [-1, 1]: summed in int64, so nothing overflows."""
    if block.shape[1] == 1:
        return (block[:, 0] * _INT32_SCALE).astype(np.float32)
    mean = block.sum(axis=1, dtype=np.int64) * (_INT32_SCALE / block.shape[1])
    return mean.astype(np.float32)


def _mono_blocks(
    session_dir: Path, manifest: Manifest, rate: int, start_frame: int = 0
) -> Iterator[np.ndarray]:
    """The session as mono float32 blocks at `rate`, resampled on the way when that is not the
    session's own rate (soxr keeps its filter state between blocks, so the joins are seamless
    and memory stays a few blocks whatever the length)."""
    with closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks:
        if rate == manifest.audio.rate:
            for _, _, block in blocks:
                yield _downmix(block)
            return
        import soxr  # here: only sessions above 48 kHz need it, and the daemon stays smaller

        stream = soxr.ResampleStream(manifest.audio.rate, rate, 1, dtype="float32", quality="HQ")
        for _, _, block in blocks:
            out = stream.resample_chunk(_downmix(block))
            if len(out):
                yield out
        tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield tail


def build_mp3(
    session_dir: Path,
    manifest: Manifest,
    out: Path,
    bitrate_kbps: int | None = None,
    *,
    start_frame: int = 0,
) -> Path:
    """A mono CBR MP3 of the session at `out` (default bitrate: `mp3_bitrate_kbps()`), at
    `mp3_rate()` of the session's rate (resampled when MP3 cannot carry that rate), from
    session frame `start_frame` on.

    The result is checked by decoding its header: mono, that rate, and the session's length
    within 0.1 s (LAME's Info tag lets libsndfile drop the encoder delay and padding).
    """
    audio = manifest.audio
    _check_has_audio(manifest, out.name, start_frame)
    rate = mp3_rate(audio.rate)
    kbps = bitrate_kbps or mp3_bitrate_kbps()
    allowed = MPEG1_KBPS if rate >= 32000 else MPEG2_KBPS
    if rate < 16000:
        allowed = tuple(k for k in allowed if k <= 64)  # MPEG-2.5 stops at 64
    if kbps not in allowed:
        raise DeliverableError(
            f"{_where(manifest, out.name)}: {kbps} kbps is not an MP3 bitrate at "
            f"{rate} Hz ({', '.join(map(str, allowed))})"
        )
    with _staged(out) as tmp:
        with (
            soundfile.SoundFile(
                tmp,
                "w",
                rate,
                1,
                format="MP3",
                subtype="MPEG_LAYER_III",
                compression_level=mp3_compression_level(kbps, rate),
                bitrate_mode="CONSTANT",
            ) as f,
            closing(_mono_blocks(session_dir, manifest, rate, start_frame)) as blocks,
        ):
            for block in blocks:
                f.write(block)
        id3_tag(session_tags(manifest, with_markers=False)).save(tmp, v2_version=ID3_VERSION, v1=0)
        _fsync_file(tmp)
        info = soundfile.info(str(tmp))
        seconds = (_total_frames(manifest) - start_frame) / audio.rate
        if (info.channels, info.samplerate) != (1, rate) or abs(info.frames / rate - seconds) > 0.1:
            raise DeliverableError(
                f"{_where(manifest, out.name)}: decodes as {info.channels} channel(s), "
                f"{info.samplerate} Hz, {info.frames / rate:.3f} s; expected mono, "
                f"{rate} Hz, {seconds:.3f} s"
            )
        return _place(tmp, out)


def build_wav(session_dir: Path, manifest: Manifest, out: Path, *, start_frame: int = 0) -> Path:
    """One WAV of the session from session frame `start_frame` (0: the whole of it) in its own
    sample format (RF64 past 4 GiB), verified.

    A plain WAV also gets the markers as cue points, as the segments have them.
    """
    audio = manifest.audio
    _check_has_audio(manifest, out.name, start_frame)
    fmt = FORMATS[audio.format]
    total = _total_frames(manifest) - start_frame
    markers = _from_frame(manifest, start_frame).markers
    container = "RF64" if total * fmt.frame_bytes(audio.channels) > _RIFF_LIMIT else "WAV"
    with _staged(out) as tmp:
        with (
            soundfile.SoundFile(
                tmp, "w", audio.rate, audio.channels, subtype=fmt.subtype, format=container
            ) as f,
            closing(session_blocks(session_dir, manifest, start_frame=start_frame)) as blocks,
        ):
            for _, _, block in blocks:
                f.write(block)
        if container == "WAV" and markers:
            add_cue_chunks(
                tmp, [(m.frame, t) for m, t in marker_labels(markers) if m.frame <= total]
            )
        _fsync_file(tmp)
        verify_flac(session_dir, manifest, tmp, start_frame)
        return _place(tmp, out)


def export(
    session_dir: Path, manifest: Manifest, fmt: str, out: Path, *, from_start: bool = False
) -> Path:
    """One file of the whole session at `out`: "flac" (lossless), "mp3" (mono CBR) or "wav".

    `from_start` leaves out the pre-roll, so the file begins at the start press: the session
    itself, as a credential submission wants it (its markers move with it).
    """
    builders = {"flac": build_flac, "mp3": build_mp3, "wav": build_wav}
    if fmt not in builders:
        raise DeliverableError(
            f"{_where(manifest, out.name)}: unknown export format {fmt!r}; "
            f"choose one of {', '.join(EXPORT_FORMATS)}"
        )
    start = manifest.preroll_frames if from_start else 0
    return builders[fmt](session_dir, manifest, out, start_frame=start)


def _up_to_date(path: Path, newest_ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= newest_ns
    except FileNotFoundError:
        return False


def build_deliverables(session_dir: Path, manifest: Manifest) -> dict[str, Path]:
    """Build session.flac and session.mp3 in the session folder when missing or stale.

    Stale means older than any of the segments (cue chunks written at finalize change them).
    No FLAC when `flac_subtype` is None (the uploader then sends the segments); the MP3 is
    resampled where MP3 cannot carry the session's rate. Returns {"flac": path, "mp3": path}
    for those that exist.
    """
    if not manifest.segments or _total_frames(manifest) == 0:
        return {}
    try:
        newest = max((session_dir / seg.file).stat().st_mtime_ns for seg in manifest.segments)
    except FileNotFoundError as exc:
        name = Path(exc.filename).name if exc.filename else "a segment"
        raise DeliverableError(f"{_where(manifest, name)}: missing") from None
    flac = session_dir / FLAC_NAME
    mp3 = session_dir / MP3_NAME
    if flac_subtype(manifest) is not None and not _up_to_date(flac, newest):
        build_flac(session_dir, manifest, flac)
    if not _up_to_date(mp3, newest):
        build_mp3(session_dir, manifest, mp3)
    return {
        kind: path for kind, path in (("flac", flac), ("mp3", mp3)) if _up_to_date(path, newest)
    }
