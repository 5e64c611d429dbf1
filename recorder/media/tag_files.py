"""Tags written into finished files with mutagen: the MP3's ID3v2.3 tag, and new tags for
session.flac and session.mp3 after the coach renamed the session or relabelled a marker.

libsndfile (LAME's id3tag) writes only an ID3v1 tag into an MP3: 30-byte fields cutting UTF-8
mid-character, a 28-byte comment, the year; so the MP3 gets an ID3v2.3 tag from mutagen instead
(UTF-16 text, read by ffprobe and every player), no ID3v1. Rebuilding a file from the segments
to change its tags would cost minutes of encoding, so only the tags are rewritten, and the
audio stays bit for bit what it was.

Each file is retagged as a copy beside it, synced, then renamed over it: a power cut leaves the
old file or the new one, and a share copying the file meanwhile reads the old one whole. The
copy costs the file's size on the card for a moment. A file whose tags are already right is not
touched.

mutagen is imported by this module alone, and the daemon imports this module only when it
first tags a file (an MP3 built for an upload, a file retagged): a box that makes no MP3 and
retags nothing never loads it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from mutagen import MutagenError
from mutagen.flac import FLAC
from mutagen.id3 import COMM, ID3, TALB, TDRC, TIT2, TPE1, TRCK, TSSE, Encoding, ID3NoHeaderError

from recorder.core.manifest import Manifest
from recorder.media.tags import session_tags
from recorder.store.files import fsync_dir

ID3_VERSION = 3  # ID3v2.3: what every player reads (v2.4 is still missing in some)
TAG_ERRORS = (MutagenError, OSError)  # what reading or writing a file's tags can raise

_ID3_FRAMES = {"title": TIT2, "artist": TPE1, "album": TALB, "tracknumber": TRCK, "software": TSSE}

# libsndfile's string names as the Vorbis comment keys it writes
_VORBIS_KEYS = {
    "title": "TITLE",
    "artist": "ARTIST",
    "album": "ALBUM",
    "tracknumber": "TRACKNUMBER",
    "date": "DATE",
    "comment": "COMMENT",
    "software": "SOFTWARE",
}


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


def write_id3(path: Path, manifest: Manifest) -> None:
    """The session's ID3v2.3 tag into the MP3 at `path` (no markers; no ID3v1)."""
    id3_tag(session_tags(manifest, with_markers=False)).save(path, v2_version=ID3_VERSION, v1=0)


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    # A copy beside the file (same filesystem, so the rename is atomic), removed on failure.
    tmp = path.with_name(f".{path.name}.retag")
    try:
        shutil.copyfile(path, tmp)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _flac_wanted(manifest: Manifest) -> dict[str, list[str]]:
    # SOFTWARE is left as the encoder wrote it (libsndfile adds its own version to it).
    tags = session_tags(manifest, with_markers=True)
    return {_VORBIS_KEYS[key]: [value] for key, value in tags.items() if key != "software"}


def _flac_has(f: FLAC) -> dict[str, list[str]]:
    if f.tags is None:
        return {}
    return {
        key.upper(): values
        for key, values in f.tags.as_dict().items()
        if key.upper() in _VORBIS_KEYS.values() and key.upper() != "SOFTWARE"
    }


def retag_flac(path: Path, manifest: Manifest) -> bool:
    """Give session.flac the session's tags; False when they were already right."""
    wanted = _flac_wanted(manifest)
    if _flac_has(FLAC(path)) == wanted:
        return False
    with _replacing(path) as tmp:
        f = FLAC(tmp)
        if f.tags is None:
            f.add_tags()
        for key in _VORBIS_KEYS.values():
            if key != "SOFTWARE" and key in f.tags:
                del f.tags[key]
        for key, values in wanted.items():
            f.tags[key] = values
        f.save()
    return True


def _id3_frames(tag: ID3) -> dict[str, list[str]]:
    return {key: [str(t) for t in frame.text] for key, frame in sorted(tag.items())}


def retag_mp3(path: Path, manifest: Manifest) -> bool:
    """Give session.mp3 the session's ID3v2 tag; False when it was already right."""
    wanted = id3_tag(session_tags(manifest, with_markers=False))
    try:
        has = ID3(path)
    except ID3NoHeaderError:
        has = ID3()
    if _id3_frames(has) == _id3_frames(wanted):
        return False
    with _replacing(path) as tmp:
        wanted.save(tmp, v2_version=ID3_VERSION, v1=0)
    return True
