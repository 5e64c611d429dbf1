"""submission.mp3 of a session only the encrypted archive holds: retention deleted the box's
copy, yet a coach who applies for a credential months later still needs the MP3 from the start
press. The build process fetches the archive's session.flac (decrypted by rclone, through the
`ArchiveReader` port) into the web server's cache, makes of it what `export --format mp3
--from-start` made of the segments (the FLAC holds the same samples, so the MP3 is the same
file), then deletes the FLAC.

It is built like the copy to listen to (`recorder.web.listening`), whose rules it inherits: the
recording wins (no build starts while a session records, one in progress is frozen), the card
keeps `reserve_bytes` free after the FLAC and the MP3, and at most `KEEP` builds stay. The
builds live in `<cache>/archive/<id>/`, apart from the box's own sessions' (which are pruned
when their session leaves the box), and go when the archive no longer lists their session (a
withdrawal of consent deletes it there; `recorder.outbox.discard` deletes the build too).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import soundfile

from recorder.core.formats import FORMATS
from recorder.core.manifest import Manifest, SegmentInfo, parse_manifest
from recorder.media.blocks import total_frames
from recorder.media.deliverables import FLAC_NAME, export
from recorder.media.tags import session_tags
from recorder.ports.archive import ArchiveError, ArchiveReader
from recorder.store.files import atomic_write
from recorder.store.sessions import ARCHIVE_CACHE, MANIFEST
from recorder.web.archived import ArchivedSessions
from recorder.web.listening import Listening
from recorder.web.submission import SUBMISSION, stamp_path, without_paths

log = logging.getLogger(__name__)

FETCHING = ".session.flac.tmp"  # the FLAC while it arrives: its size is the fetch's progress
FETCH_TRIES = 5  # a fetch that broke (a frozen build's connection timed out) resumes
WAITING = "the box is recording: the submission MP3 is made from the archive after the stop"
_SUBTYPE_FORMAT = {f.subtype: f.name for f in FORMATS.values()}  # PCM_16: S16_LE, ...


def fetch(archive: ArchiveReader, session_id: str, name: str, size: int, into: Path) -> None:
    """The archive's file into `into`, exactly `size` bytes, resuming where a read broke off
    (a partial file of an earlier build is not trusted: it starts afresh)."""
    partial = into.with_name(FETCHING)
    with open(partial, "wb") as f:
        for _ in range(FETCH_TRIES):
            done = f.tell()
            if done >= size:
                break
            try:
                for piece in archive.read_range(session_id, name, done, size - done):
                    f.write(piece)
            except ArchiveError as exc:
                log.warning("fetching %s of %s broke at byte %d: %s", name, session_id, done, exc)
        got = f.tell()
        os.fsync(f.fileno())
    if got != size:
        partial.unlink(missing_ok=True)
        raise ArchiveError(f"{name} of {session_id}: {got} of {size} bytes came from the archive")
    os.replace(partial, into)


def as_one_segment(manifest: Manifest, flac: Path) -> Manifest:
    """The archive's manifest with the fetched FLAC as its one segment, so the deliverables read
    it as they read the segments (libsndfile gives both the same left-aligned samples)."""
    info = soundfile.info(str(flac))
    if info.samplerate != manifest.audio.rate or info.channels != manifest.audio.channels:
        raise ArchiveError(
            f"{FLAC_NAME} of {manifest.id}: {info.samplerate} Hz × {info.channels} on the "
            f"archive, the manifest says {manifest.audio.rate} Hz × {manifest.audio.channels}"
        )
    frames = total_frames(manifest)  # the segments', which the FLAC joined
    if info.frames != frames or info.subtype not in _SUBTYPE_FORMAT:
        raise ArchiveError(
            f"{FLAC_NAME} of {manifest.id}: {info.frames} frames of {info.subtype} on the "
            f"archive, the manifest says {frames}"
        )
    # A FLAC is no seg-NNNN.wav: built without the file name's check, for this build alone.
    one = SegmentInfo.model_construct(
        file=FLAC_NAME, index=0, first_frame=0, first_pos=0, frames=info.frames, closed=True
    )
    audio = manifest.audio.model_copy(update={"format": _SUBTYPE_FORMAT[info.subtype]})
    return manifest.model_copy(update={"segments": [one], "audio": audio})


def build_from_archive(
    archive: ArchiveReader, manifest_text: str, work: str, out: str, stamp: dict
) -> None:
    """In the build process: fetch, build as `export --format mp3 --from-start`, delete the
    FLAC; the stamp last, so the file counts as ready only once it is complete."""
    manifest = parse_manifest(manifest_text, f"archive: {MANIFEST}")
    flac = Path(work) / FLAC_NAME
    try:
        fetch(archive, manifest.id, FLAC_NAME, stamp["flac_bytes"], flac)
        built = export(flac.parent, as_one_segment(manifest, flac), "mp3", Path(out),
                       from_start=True)  # fmt: skip
    finally:
        flac.unlink(missing_ok=True)
        flac.with_name(FETCHING).unlink(missing_ok=True)
    atomic_write(stamp_path(built), json.dumps(stamp))


class ArchivedSubmissions(Listening):
    """The submission MP3s of the archive's sessions, in `cache_dir/archive/<session id>/`."""

    name, from_start = SUBMISSION, True
    what, waiting = "the submission MP3, with the FLAC fetched to make it,", WAITING

    def __init__(
        self, archive: ArchiveReader, archived: ArchivedSessions, cache_dir: Path, room: int
    ) -> None:
        """`cache_dir`: the web cache (the builds go in ARCHIVE_CACHE below it); `room`: the
        bytes that stay free on the card after a build (`listening.reserve_bytes`)."""
        super().__init__(archived.store, cache_dir / ARCHIVE_CACHE, room)
        self.archive = archive
        self.archived = archived

    def _source(self, session_id: str) -> tuple[Path, Manifest, dict] | None:
        """Raises ArchiveError when the archive cannot be read (`status` and `start` say so)."""
        manifest = self.archived.manifest(session_id)
        if manifest is None:
            return None
        size = self.archive.size(session_id, FLAC_NAME)
        if size is None:  # a session the FLAC could not hold (S32_LE): its segments were sent
            return None
        tags = session_tags(manifest, with_markers=False)
        stamp = {"flac_bytes": size, "preroll_frames": manifest.preroll_frames, "tags": tags}
        return self.cache_dir / session_id, manifest, stamp

    def expected_bytes(self, manifest: Manifest, stamp: dict) -> int:
        return stamp["flac_bytes"] + super().expected_bytes(manifest, stamp)

    def _task(
        self, folder: Path, manifest: Manifest, out: Path, stamp: dict
    ) -> tuple[Callable[..., None], tuple]:
        text = manifest.model_dump_json()
        return build_from_archive, (self.archive, text, str(folder), str(out), stamp)

    def _progress(self, session_id: str, expected: int) -> float:
        """The FLAC's bytes as they arrive, then the MP3's as it is written after them."""
        with self._lock:
            job = self._jobs.get(session_id)
        flac = job[1]["flac_bytes"] if job is not None else 0
        out = self._out(session_id)
        fetching = _size(out.with_name(FETCHING))
        if fetching is not None:
            done = fetching
        elif out.is_file():  # in place, the FLAC's deletion and the stamp still to come
            done = expected
        elif out.with_name(FLAC_NAME).is_file():
            done = flac + (_size(out.with_name(f".{out.name}.tmp")) or 0)
        else:
            done = 0  # the process has not begun
        return round(min(done / expected, 0.99), 3) if expected else 0.0

    def _prune(self) -> None:
        """Forget the builds of sessions the archive no longer lists (a withdrawal deleted
        them there), and those of sessions back on the box; nothing while the list cannot be
        read (a build is worth keeping through a network's outage)."""
        listed = self.archived.listed()
        if listed is None:
            return
        try:
            entries = list(self.cache_dir.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink() and entry.name not in listed:
                with self._lock:
                    job = self._jobs.get(entry.name)
                if job is None or job[0].done():
                    shutil.rmtree(entry, ignore_errors=True)

    def status(self, session_id: str) -> dict | None:
        try:
            return super().status(session_id)
        except ArchiveError as exc:
            return _unreachable(exc)

    def start(self, session_id: str) -> dict | None:
        try:
            return super().start(session_id)
        except ArchiveError as exc:
            return _unreachable(exc)

    def ready(self, session_id: str) -> tuple[Path, Manifest] | None:
        try:
            return super().ready(session_id)
        except ArchiveError:
            return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _unreachable(exc: ArchiveError) -> dict:
    reason = without_paths(f"the archive cannot be read now: {exc}")
    return {"status": "failed", "progress": 0.0, "error": reason}
