"""The writer: the thread that puts a session on the card, and the parts it drives.

- `WriterThread` (`thread`): the `writer` thread. Takes the block queue's audio, gaps, markers,
  warnings and session begins/ends; answers a start once the pre-roll is on the card; finalizes
  a session into the outbox.
- `WriterFrames`, `WriterHooks`: its schedule (segment, header sync, level report, in frames)
  and what it tells the rest of the recorder (events, finalized, marker saved, recovered late).
- `SegmentWriter` (`segments`): one session's WAV segments, cut at exact frame counts;
  `should_rollover`/`do_rollover` as in python-can's rotating logger.
- `SessionJournal` (`journal`): one session's manifest (gaps, markers, warnings, levels), saved at
  every change, and its finalize.
- `DiskGuard` (`guard`): room on the storage: the ballast, the `min_free_mb` margin, whether a
  failed write failed for lack of space. Built once by the composition root; the controller
  reads free space through it.
- `Backlog` (`backlog`): what a full disk held up, finished once there is room.

Every part but the guard's free-space reading runs on the writer thread.
"""

from recorder.recording.writer.backlog import Backlog
from recorder.recording.writer.guard import DiskGuard
from recorder.recording.writer.journal import SessionJournal, SessionLevels
from recorder.recording.writer.segments import SegmentWriter, segment_name
from recorder.recording.writer.thread import WriterFrames, WriterHooks, WriterThread

__all__ = [
    "Backlog",
    "DiskGuard",
    "SegmentWriter",
    "SessionJournal",
    "SessionLevels",
    "WriterFrames",
    "WriterHooks",
    "WriterThread",
    "segment_name",
]
