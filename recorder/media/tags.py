"""What a session's files say about it: their tags and markers, from its manifest.

- Tags (`session_tags`): TITLE is the session's display name once the coach named it ("Sam ·
  Goals review"), else its id; ARTIST the client, TRACKNUMBER the session number (when set),
  ALBUM "Session Recorder", DATE and SOFTWARE. The coach's notes never go into a file: these
  files are the ones handed to clients, mentors and assessors. The FLAC gets them as Vorbis
  comments from libsndfile; the MP3 as an ID3v2.3 tag from mutagen (`recorder.media.tag_files`).
  `recorder.coaching.tags.retag` rewrites both after the coach changes them.
- Markers: `labels.txt` stays the sidecar. The FLAC also carries them, as text in its COMMENT
  (one `h:mm:ss.mmm label` line each): libsndfile only writes fixed keys (no CHAPTERnnn, no
  CUESHEET), so this is what it allows simply. The MP3 carries none. A joined WAV export gets
  them as cue points, as the segments do. A file that leaves out the pre-roll moves them back
  with it (`from_frame`).
"""

from __future__ import annotations

import unicodedata

from recorder.core.coaching.details import Details, display_name, read_details
from recorder.core.manifest import Manifest
from recorder.store.markers import marker_labels

ALBUM = "Session Recorder"
SOFTWARE = "session-recorder"


def one_line(text: str) -> str:
    """`text` as one line of plain, valid UTF-8, whatever a label or a hand-edited manifest holds.

    Control characters and line breaks become spaces (each marker keeps its own line), format
    characters such as bidi overrides go, and a lone surrogate becomes "?".
    """
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
        f"{_clock(m.frame / manifest.audio.rate)} {one_line(text)}"
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
        "title": one_line(coach_name(manifest) or manifest.id),
        "artist": one_line(details.client),
        "album": ALBUM,
        "tracknumber": str(details.number) if details.number else "",
        "date": one_line(manifest.started_at),
        "comment": markers_comment(manifest) if with_markers else "",
        "software": SOFTWARE,
    }
    return {key: value for key, value in tags.items() if value.strip()}


def from_frame(manifest: Manifest, start_frame: int) -> Manifest:
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
