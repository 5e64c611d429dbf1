"""The pure core: no I/O, no threads, no clock reads. Time is a frame counter passed in.

- `recording/`: the state machine, button gestures, LED, pre-roll ring, blocks, levels, disk rules.
- `transcript/`: transcript data, speaker turns, the decode plan, text and WebVTT.
- `coaching/`: details, consent, shares, the credential check, the coach's requests.
- `manifest`: the session manifest model; `formats`: sample formats; `session_id`: ids.
- `requests`, `inbound`, `limits`: every request from outside, checked once, with its limits.
- `upload_plan`: what to upload and verify; `discovery`, `fleet`: what MQTT shows.
"""
