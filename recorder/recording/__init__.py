"""Recording a session: from the audio device to WAV segments on the card.

The threads: `capture` (reads the audio source into the tap), `writer/` (segments, the
manifest, markers and gaps, through the disk guard the composition root built), and
`controller/` (the one thread that changes state: button, LED, commands, status).

- `tap`: the pre-roll ring while idle, the block queue while recording (picamera2's circular
  output as the model).
- `blockqueue`: the bounded hand-off from capture to the writer.
- `inbox`: the controller's one way in, made before the parts that feed it.
"""
