"""What is kept on the card, and how it is written so that a power cut never leaves half a file.

- `files`: `atomic_write` (temporary file, fsync, rename, directory fsync) and `fsync_dir`.
- `sessions`: `SessionStore` and `StoredSession`, the session folders (recording/, outbox/,
  uploaded/) and their manifests.
- `markers`: a session's markers in its manifest, `labels.txt` and the WAV cue chunks.
- `ballast`: room kept aside so a session can be finalized on a full disk.
- `recovery`: repairs what a power cut left in `recording/` at start-up.
"""
