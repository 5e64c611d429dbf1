"""`session-recorder run` with ALSA in the daemon's own process: a baseline for the benchmarks.

The daemon normally reads the device through a capture helper process
(recorder/adapters/alsa_process.py and alsa_helper.py), so that an ALSA call that blocks cannot freeze it. To
measure what that boundary costs, bench/capture.py, memory.py and startup.py run this beside
it: the same command line and the same code, except that the recorder gets the in-process
`AlsaSource` through its `Parts` port, as it read the device before the helper existed. Not
for use on a box: here a blocking open stops every thread again.

    python -m bench.inprocess run --config PATH
"""

from __future__ import annotations

import dataclasses
import sys

import recorder.app.daemon
from recorder.adapters.alsa import AlsaSource
from recorder.app.cli import main


class InProcessRecorder(recorder.app.daemon.Recorder):
    """The Recorder with `Parts(source=AlsaSource(...))`; every other part its default."""

    def __init__(self, cfg, parts=None) -> None:
        a = cfg.audio
        source = AlsaSource(a.device, a.rate, a.channels, a.format, a.period_frames)
        parts = dataclasses.replace(parts or recorder.app.daemon.Parts(), source=source)
        super().__init__(cfg, parts)


recorder.app.daemon.Recorder = InProcessRecorder  # what recorder.app.daemon.run() builds

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
