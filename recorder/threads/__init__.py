"""How background work runs: supervised loops, low priority, and jobs handed off by the control path.

- `supervision`: `keep_running`, a loop that is restarted and reported when it dies.
- `priority`: `lower_priority`, nice and idle I/O class for the calling thread.
- `jobs`: `JobBoard`/`JobWorker`, queued discards, shares and revocations with their results.
"""
