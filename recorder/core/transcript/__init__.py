"""The pure rules of transcripts.

- `doc`: `TranscriptDoc` and `Word`, one session's transcript as plain data.
- `turns`: who spoke when, from the channels' levels alone.
- `plan`: from turns to the pieces an engine decodes and the lines of the document.
- `text`: the transcript as text (transcript.txt, .docx layout) and WebVTT.
- `choice`: which engine builds a transcript (`auto`: whisper or pocketsphinx) and why.
"""
