"""The ports: what the box needs from the outside world, one module per kind of outside thing.

Each adapter in `recorder.adapters` implements one of these, and a test double implements the
same protocol (`tests/doubles.py`), the way Mopidy's dummy audio mirrors its audio API.

- `audio`: AudioSource and the errors it raises (DeviceUnavailable, DeviceLost, DeviceStalled,
  Overrun); imports nothing, so the capture helper process can load it.
- `storage`: SegmentSink, SegmentFactory (WAV segments being written), DiskSpace.
- `outbox`: RemoteStore (cloud storage behind rclone), SessionStep (work before an upload).
- `sharing`: ShareTarget, LinkResult, ShareError (plain copies for a mentor or a client).
- `speech`: SpeechEngine, EngineError (the transcript's speech engines).
"""
