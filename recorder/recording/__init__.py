"""Recording a session: from the audio device to WAV segments on the card.

The threads: `capture` (reads the device into the ring and the block queue), `writer` (writes
segments, the manifest, markers and gaps; keeps the disk reserve), and `controller` (the state
machine's inputs and outputs: button, LED, commands, status).

- `tap`: the pre-roll ring buffer's output side (picamera2's circular output as the model).
- `blockqueue`: the bounded hand-off from capture to the writer.
"""
