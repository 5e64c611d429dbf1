"""Audio files: reading and repairing WAV segments, and the deliverables made from them.

- `wav`: the WAV segment writer (`SoundfileSegment`), chunk reading (`find_chunks`),
  header repair after a power cut, `file_sha256`.
- `deliverables`: session.flac / session.mp3 / an exported WAV, their tags, verified against
  the segments they came from.
"""
