"""Warnings while recording, computed from the levels the writer measures and the free space.

A warning says the session is still recording but something needs attention while it can be
fixed: silence (a muted or unplugged microphone), repeated clipping, a disk filling up, a lost
device. Each clears itself when its cause goes away. Time is session frames, never a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

KINDS = ("silence", "clipping", "disk_low", "device", "thread")


@dataclass(frozen=True)
class WarningSettings:
    silence_dbfs: float = -60.0
    silence_s: float = 60.0
    clip_repeat: int = 3  # clipped reports within clip_window_s that make a warning
    clip_window_s: float = 10.0
    disk_minutes: float = 30.0
    auto_stop_silence_s: float = 0.0  # 0 = never stop on silence
    max_session_s: float = 4 * 3600.0  # 0 = no limit


@dataclass(frozen=True)
class LevelReport:
    """Levels over `frames` frames of a session, ending at session frame `end_frame`."""

    end_frame: int
    frames: int
    peak_dbfs: tuple[float, ...]
    rms_dbfs: tuple[float, ...]
    clipped: int  # samples at full scale


@dataclass(frozen=True)
class Monitor:
    silent_frames: int = 0
    clip_frames: tuple[int, ...] = ()  # end frames of recent reports that clipped
    active: tuple[tuple[str, str], ...] = ()  # (kind, message), in the order raised

    @property
    def messages(self) -> dict[str, str]:
        return dict(self.active)


def _set(m: Monitor, kind: str, message: str | None) -> Monitor:
    current = m.messages
    if current.get(kind) == message:
        return m
    others = tuple((k, v) for k, v in m.active if k != kind)
    return replace(m, active=others if message is None else (*others, (kind, message)))


def assess_levels(m: Monitor, r: LevelReport, s: WarningSettings, rate: int) -> Monitor:
    loudest = max(r.rms_dbfs) if r.rms_dbfs else -120.0
    silent = m.silent_frames + r.frames if loudest < s.silence_dbfs else 0
    m = replace(m, silent_frames=silent)
    if silent >= s.silence_s * rate:
        m = _set(
            m,
            "silence",
            f"no sound above {s.silence_dbfs:.0f} dBFS for {s.silence_s:.0f} s: "
            "microphone unplugged or muted?",
        )
    elif silent == 0:
        m = _set(m, "silence", None)
    window = s.clip_window_s * rate
    clips = tuple(f for f in m.clip_frames if r.end_frame - f < window)
    if r.clipped:
        clips = (*clips, r.end_frame)
    m = replace(m, clip_frames=clips[-max(1, s.clip_repeat) :])
    if len(clips) >= s.clip_repeat:
        m = _set(
            m,
            "clipping",
            f"input clipping repeatedly ({s.clip_repeat} times within {s.clip_window_s:.0f} s): "
            "turn the gain down",
        )
    elif not clips:
        m = _set(m, "clipping", None)
    return m


def assess_disk(m: Monitor, seconds_left: float, s: WarningSettings) -> Monitor:
    if seconds_left < s.disk_minutes * 60:
        return _set(
            m, "disk_low", f"storage nearly full: under {s.disk_minutes:.0f} min of recording left"
        )
    return _set(m, "disk_low", None)


def assess_device(m: Monitor, error: str | None) -> Monitor:
    return _set(m, "device", error)


def threads_restarted(m: Monitor, restarted: tuple[tuple[str, str], ...]) -> Monitor:
    """Threads that serve the coach failed and were restarted: said until the daemon restarts,
    since whatever ended them may come again."""
    if not restarted:
        return _set(m, "thread", None)
    which = ", ".join(f"{name} ({why})" for name, why in restarted)
    what = "thread failed" if len(restarted) == 1 else "threads failed"
    return _set(
        m,
        "thread",
        f"the recorder's {which} {what} and restarted by itself; it goes on working, but "
        "send its log to whoever maintains the box",
    )


def auto_stop(m: Monitor, session_frames: int, s: WarningSettings, rate: int) -> str | None:
    """The stop reason a session has reached, if any."""
    if s.max_session_s and session_frames >= s.max_session_s * rate:
        return "max_length"
    if s.auto_stop_silence_s and m.silent_frames >= s.auto_stop_silence_s * rate:
        return "silence"
    return None
