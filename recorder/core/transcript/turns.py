"""Who spoke when, from the levels of the channels alone (pure; numpy, no I/O, no clock).

With one microphone per speaker, speaking is a measurement: a channel is speaking where its
level stands clear of its own noise floor *and* near the loudest channel. The second test is
what keeps crosstalk out: the client's voice reaches the coach's microphone too, but some
10-20 dB lower than it reaches the client's own, so it never comes within `crosstalk_db` of
the loudest channel; where both really speak at once, both channels carry their own voice at
full level and both are kept.

The steps, each vectorised over the whole session (an hour is 180 000 windows):
1. `window_levels`: RMS dBFS per short window and channel (an adapter streams a session
   through it block by block).
2. The noise floor of each channel, a low percentile of its own levels, so a quiet room and a
   noisy one both work; never below `floor_min_dbfs`, so digital silence or a very quiet
   interface does not make the other voice's faint leak count as speech.
3. Hysteresis: a run of windows above the off threshold is speech when it reaches the on
   threshold somewhere, so a turn starts where the voice rises, not where it peaks.
4. Gaps shorter than `bridge_s` (the pauses between words and inside a sentence) are closed;
   then runs shorter than `min_turn_s` (a click) are dropped.
5. A speaker's runs with no one else's between them are one turn while the pause between them
   is under `line_pause_s`, so a line of the transcript is cut only where the speaker changes
   or pauses long, and the engine decodes whole sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recorder.core.recording.levels import SILENCE_DBFS
from recorder.core.transcript.doc import Turn


@dataclass(frozen=True)
class TurnParams:
    """How speech is told from silence and crosstalk; defaults tuned on espeak-ng speech.

    Measured on the two-voice espeak-ng conversation of the tests (gain -6 dB): speech RMS per
    20 ms window has a median of -30 dBFS and a 90th percentile of -22 dBFS; 85-95 % of the
    windows of a sentence are above -45 dBFS, the rest are the gaps between words.

    - `window_s` 20 ms: short enough to place a change of speaker to a few hundredths of a
      second, long enough for a stable RMS (960 frames at 48 kHz); 180 000 windows an hour.
    - `floor_percentile` 5: the quietest 5 % of a channel is its room, even in a lively
      conversation (both people are silent for more than that between turns).
    - `floor_min_dbfs` -55: the floor assumed at most this low (a 24-bit interface in a quiet
      room measures -70 or less); speech then needs -45 dBFS to start a turn.
    - `on_db` 10 / `off_db` 6 above the floor: a turn starts only where the voice is clearly
      above the room and lasts while it stays a little above; between the two, noise that
      flickers around one threshold does not toggle the turn.
    - `crosstalk_db` 10: a channel speaks only within this of the loudest channel. The other
      voice leaking at -20 dB is twice that below; a leak as loud as -12 dB is still refused;
      two voices at once, each on its own microphone, are both within it.
    - `bridge_s` 0.4: pauses inside a sentence (between words, a breath) do not end a turn.
    - `min_turn_s` 0.12 (6 windows): a verbatim transcript keeps every "Yes.", "Right.",
      "Mm." (0.15-0.3 s spoken; a "Right." of 0.21 s was lost at the old 0.25). A click lasts a
      few milliseconds and lights at most the two windows it straddles; 6 windows is three
      times that, and still under the shortest spoken word.
    - `line_pause_s` 2.0: within one speaker's talk, a pause this long starts a new line.
      Pauses between sentences and for breath are mostly under 1 s; cutting there split
      sentences and lost the decoder's context. 2 s is also faster-whisper's own
      `min_silence_duration_ms` for splitting speech.
    - `paragraph_pause_s` 0.7 (one-microphone mode): a pause this long starts a new paragraph.
      Shorter than a typical 1 s on purpose: a paragraph that spans a change of speaker must be
      split by hand, while a monologue cut at a sentence pause only needs its name filled in.
    """

    window_s: float = 0.02
    floor_percentile: float = 5.0
    floor_min_dbfs: float = -55.0
    on_db: float = 10.0
    off_db: float = 6.0
    crosstalk_db: float = 10.0
    bridge_s: float = 0.4
    min_turn_s: float = 0.12
    line_pause_s: float = 2.0
    paragraph_pause_s: float = 0.7

    def __post_init__(self) -> None:
        problems = []
        if not self.window_s > 0:
            problems.append(f"window_s {self.window_s} must be above 0")
        if not 0 <= self.floor_percentile <= 100:
            problems.append(f"floor_percentile {self.floor_percentile} must be within 0..100")
        if not 0 <= self.off_db <= self.on_db:
            problems.append(f"off_db {self.off_db} must be within 0..on_db ({self.on_db})")
        for name in ("crosstalk_db", "bridge_s", "min_turn_s", "line_pause_s", "paragraph_pause_s"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} {getattr(self, name)} must not be negative")
        if problems:
            raise ValueError("TurnParams: " + "; ".join(problems))

    def windows(self, seconds: float) -> int:
        """`seconds` as a whole number of windows (rounded)."""
        return round(seconds / self.window_s)


def window_levels(block: np.ndarray, window: int, full_scale: float) -> np.ndarray:
    """RMS level in dBFS of each `window` frames of `block`, per channel: (windows, channels).

    `block` is (frames, channels), integers or floats, with `full_scale` the magnitude of
    0 dBFS (2**31 for libsndfile's left-aligned int32, 1.0 for floats). A trailing part
    shorter than a window gets a row of its own, so a session can be streamed through this in
    blocks that are a whole number of windows, the last one excepted. Silence is
    SILENCE_DBFS, never -inf.
    """
    if block.ndim != 2:
        raise ValueError(f"window_levels: block must be (frames, channels), not {block.shape}")
    if window < 1:
        raise ValueError(f"window_levels: window must be at least 1 frame, not {window}")
    if not full_scale > 0:
        raise ValueError(f"window_levels: full_scale must be above 0, not {full_scale}")
    frames, channels = block.shape
    whole = frames // window
    # Channel-major float32 (numpy sums a contiguous row far faster than a strided column);
    # float32 spans 2**62 squares and its pairwise sums are exact enough for a level in dB.
    rows = block.T.astype(np.float32, order="C")
    np.square(rows, out=rows)
    mean = np.empty((channels, whole + (frames > whole * window)), dtype=np.float32)
    mean[:, :whole] = rows[:, : whole * window].reshape(channels, whole, window).mean(axis=2)
    if mean.shape[1] > whole:
        mean[:, whole] = rows[:, whole * window :].mean(axis=1)
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(mean / np.float32(full_scale) ** 2)
    return np.maximum(db, np.float32(SILENCE_DBFS)).T.copy()


def _check(levels_db: np.ndarray) -> np.ndarray:
    levels = np.asarray(levels_db, dtype=np.float64)
    if levels.ndim != 2:
        raise ValueError(f"levels_db must be (windows, channels), not shape {levels.shape}")
    if levels.size and not np.isfinite(levels).all():
        raise ValueError("levels_db holds NaN or infinity; levels are floored at SILENCE_DBFS")
    return levels


def noise_floor(levels_db: np.ndarray, params: TurnParams) -> np.ndarray:
    """Each channel's noise floor in dBFS: a low percentile of its levels, at least
    `floor_min_dbfs`. Empty input: the minimum floor."""
    levels = _check(levels_db)
    if not len(levels):
        return np.full(levels.shape[1], params.floor_min_dbfs)
    floor = np.percentile(levels, params.floor_percentile, axis=0)
    return np.maximum(floor, params.floor_min_dbfs)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (exclusive) of the runs of True in a 1-D mask."""
    edges = np.diff(mask.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _speech_runs(
    high: np.ndarray, low: np.ndarray, bridge: int, min_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of `low` that reach `high` somewhere (hysteresis), gaps under `bridge` windows
    closed, then runs under `min_len` windows dropped."""
    starts, ends = _runs(low)
    if not len(starts):
        return starts, ends
    reached = np.concatenate(([0], np.cumsum(high)))
    keep = reached[ends] > reached[starts]
    starts, ends = starts[keep], ends[keep]
    if len(starts) > 1:
        joined = starts[1:] - ends[:-1] < bridge  # True: the gap before run i+1 is closed
        starts = starts[np.concatenate(([True], ~joined))]
        ends = ends[np.concatenate((~joined, [True]))]
    keep = ends - starts >= min_len
    return starts[keep], ends[keep]


def find_turns(levels_db: np.ndarray, params: TurnParams) -> list[Turn]:
    """The speaker turns of a session with one microphone per speaker (channel = speaker).

    `levels_db` is (windows, channels) from `window_levels`. Turns come sorted by start (then
    channel); where turns of two channels share any time, both are kept and both are marked
    `overlap`. Two runs of one channel with nobody else's between them are one turn when the
    pause is under `line_pause_s`.
    """
    levels = _check(levels_db)
    if not levels.size:
        return []
    floor = noise_floor(levels, params)
    near_loudest = levels >= levels.max(axis=1, keepdims=True) - params.crosstalk_db
    high = (levels >= floor + params.on_db) & near_loudest
    low = (levels >= floor + params.off_db) & near_loudest
    bridge, min_len = params.windows(params.bridge_s), max(1, params.windows(params.min_turn_s))
    runs = [_speech_runs(high[:, ch], low[:, ch], bridge, min_len) for ch in range(levels.shape[1])]
    turns = []
    for ch, (starts, ends) in enumerate(runs):
        overlap = np.zeros(len(starts), dtype=bool)
        for other, (o_starts, o_ends) in enumerate(runs):
            if other == ch or not len(o_starts):
                continue
            # The other channel's first run ending after this one starts: overlap if it
            # also starts before this one ends (a channel's runs never overlap each other).
            first = np.searchsorted(o_ends, starts, side="right")
            inside = first < len(o_starts)
            overlap[inside] |= o_starts[first[inside]] < ends[inside]
        turns += [
            Turn(ch, _seconds(s, params), _seconds(e, params), bool(o))
            for s, e, o in zip(starts.tolist(), ends.tolist(), overlap.tolist(), strict=True)
        ]
    return _join_pauses(sorted(turns, key=lambda t: (t.start_s, t.channel)), params.line_pause_s)


def _join_pauses(turns: list[Turn], pause_s: float) -> list[Turn]:
    """Consecutive turns of one channel joined where the pause between them is short."""
    out: list[Turn] = []
    for t in turns:
        last = out[-1] if out else None
        if last is not None and last.channel == t.channel and t.start_s - last.end_s < pause_s:
            pauses = (*last.pauses, (last.end_s, t.start_s))
            out[-1] = Turn(t.channel, last.start_s, t.end_s, last.overlap or t.overlap, pauses)
        else:
            out.append(t)
    return out


def find_paragraphs(levels_db: np.ndarray, params: TurnParams) -> list[Turn]:
    """One-microphone mode: the speech of all channels together, one Turn (channel None) per
    paragraph, paragraphs parted by pauses of `paragraph_pause_s` or more.

    The voices are not told apart here; that is for the transcript to say plainly.
    """
    levels = _check(levels_db)
    if not levels.size:
        return []
    mix = levels.max(axis=1, keepdims=True)  # someone speaks where any channel has speech
    floor = noise_floor(mix, params)
    high = mix[:, 0] >= floor[0] + params.on_db
    low = mix[:, 0] >= floor[0] + params.off_db
    pause, min_len = params.windows(params.paragraph_pause_s), params.windows(params.min_turn_s)
    starts, ends = _speech_runs(high, low, pause, max(1, min_len))
    return [
        Turn(None, _seconds(s, params), _seconds(e, params))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _seconds(window: int, params: TurnParams) -> float:
    return round(window * params.window_s, 3)
