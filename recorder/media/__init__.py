"""Audio files: reading and repairing WAV segments, and the deliverables made from them.

- `wav`: the WAV segment writer (`SoundfileSegment`), chunk reading (`find_chunks`),
  header repair after a power cut, `file_sha256`.
- `deliverables`: the front for a session's single files: `build_deliverables` (session.flac
  and session.mp3 for an upload), `export` (flac, mp3 or wav, optionally from the start press),
  `DeliverableError`, `FLAC_NAME`, `MP3_NAME`, `EXPORT_FORMATS`.
- `blocks`: a session's segments read back as checked int32 blocks (`session_blocks`,
  `BLOCK_FRAMES`), for the deliverables and the transcript's level pass.
- `flac` (`build_flac`, `verify_flac`, `flac_subtype`), `mp3` (`build_mp3`,
  `mp3_bitrate_kbps`, `mp3_rate`), `wav_export` (`build_wav`): one format each.
- `tags`: what the files say about the session (`session_tags`, `coach_name`,
  `markers_comment`); `tag_files`: those tags written into finished files with mutagen
  (`write_id3`, `retag_flac`, `retag_mp3`), imported only when a file is tagged.
- `staged`: build beside, fsync, check, rename into place.
"""
