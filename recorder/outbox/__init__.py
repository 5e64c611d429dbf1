"""Finished sessions on their way to the remote: deliverables, transcript step, upload, verify,
retention and remote deletion, all run by one low-priority thread.

- `worker`: `OutboxWorker`, the thread and the front other threads use (`wake`,
  `set_recording`, `status`, `discard`, `stop`, `pass_once`); what it is built with
  (`Hookup`: the recording flag, events, the wake event and session lock it shares;
  `OutboxWork`: deliverables, steps, chores); `release_heap`.
- `deliver`: `Delivery`, a session made ready (FLAC, MP3, the steps such as a transcript) and
  the files that go.
- `upload`: `Uploader`, a session sent and moved to uploaded/; `failed` and `back_off`.
- `verify`: `Verifier`, what arrived checked; verified, sent again, or checked later.
- `retention`: `Retention`, verified local copies deleted to keep space and an age limit.
- `discard`: `discard_session`, `remote_dir_for`, `DiscardError`, and `PendingDeletions` (the
  remote deletions retried at every pass, the ones that never can succeed set aside).
- `state`: `OutboxState`, what the outbox is doing (one lock), and `Link`, what the upload and
  verify steps share.
"""
