"""Finished sessions on their way to the remote: deliverables, transcript step, upload, verify,
retention and remote deletion.

- `worker`: `OutboxWorker`, the low-priority thread that does it, and `discard_session`,
  `remote_dir_for`, `DiscardError`.
"""
