"""Transcripts: speaker turns from the channels, words from an offline engine, and the files a
credential submission needs (txt, WebVTT, docx). Heavy work runs in a low-priority child
process (`recorder.transcript.worker`): pocketsphinx holds the GIL while it decodes."""
