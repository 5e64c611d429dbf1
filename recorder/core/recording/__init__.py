"""The pure rules of recording: the state machine and what it decides from frames and levels.

- `state`: `transition()`, the recorder's state machine (events in, actions out).
- `gestures`: short, long and double presses from button edges.
- `led`: the LED pattern for each state and warning.
- `ring`, `blocks`, `segments`: the pre-roll ring, the blocks and gaps capture hands the
  writer, and where a segment ends.
- `levels`, `warnings`: peak and RMS per channel, and the warnings drawn from them.
- `disk`: when the storage is too full to start or go on, and the room a stop needs.
"""
