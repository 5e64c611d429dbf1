"""Transcripts: speaker turns from the channels, words from an offline engine, and the files a
credential submission needs (txt, WebVTT, docx). Heavy work runs in a low-priority child
process (`recorder.transcript.worker`): pocketsphinx holds the GIL while it decodes.

- `runner`: `TranscriptStep`, the outbox's step that runs the worker process (frozen while a
  session records); `worker`: that process; `builder`: turns, words and lines of one session.
- `models`: the bundled whisper model (its sha256) and MemTotal, for the engine choice;
  `engines`: the one place an engine is made; `whisper_engine`, `pocketsphinx_engine`.
- `activity`, `audio`: the channels' levels and the audio an engine decodes.
- `files`, `docx_file`: transcript.txt, .vtt and .docx; `status`: transcript.json and its
  summary; `titles`: what a transcript says that the coach can change afterwards.
"""
