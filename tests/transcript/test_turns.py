"""Speaker turns from the channels: the pure detector on made-up levels, then on real speech.

The real part is espeak-ng: two voices saying known sentences, alternating and overlapping
once, each voice also leaking into the other's microphone (tests/speech.py knows where every
line's voice really is, to the sample). The turns must match the script to within 0.3 s at
every change of speaker, one turn per scripted line, the leak making none, the overlap kept.
The session tests write that audio as real WAV segments with the recorder's own segment writer
and read it back through `session_levels`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from recorder.app.virtualmic import encode
from recorder.core.formats import FORMATS
from recorder.core.recording.levels import SILENCE_DBFS
from recorder.core.transcript.doc import Turn
from recorder.core.transcript.turns import (
    TurnParams,
    find_paragraphs,
    find_turns,
    noise_floor,
    window_levels,
)
from recorder.transcript.activity import session_levels
from tests.factories import write_session
from tests.speech import ESPEAK, SCRIPT, Said, conversation, to_int16

P = TurnParams()
W = P.window_s
RATE = 48000
TOLERANCE_S = 0.3  # the bound at every change of speaker
ROOM = -70.0  # made-up levels: a quiet room, below the floor's lower bound

needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (Debian package espeak-ng)"
)


# ---------------------------------------------------------------- made-up levels


def track(seconds: float, *parts: tuple[float, float, float], base: float = ROOM) -> np.ndarray:
    """One channel's levels: `base`, with (start_s, end_s, dBFS) stretches laid over it."""
    out = np.full(round(seconds / W), base)
    for start, end, level in parts:
        out[round(start / W) : round(end / W)] = level
    return out


def levels(*tracks: np.ndarray) -> np.ndarray:
    return np.stack(tracks, axis=1)


def spans(turns: list[Turn]) -> list[tuple[int | None, float, float, bool]]:
    return [(t.channel, t.start_s, t.end_s, t.overlap) for t in turns]


def test_a_voice_on_its_own_channel_is_one_turn_from_where_it_starts_to_where_it_ends():
    lv = levels(track(10, (2.0, 5.0, -25)), track(10))
    assert spans(find_turns(lv, P)) == [(0, 2.0, 5.0, False)]


def test_hysteresis_a_turn_starts_where_the_voice_rises_and_flicker_does_not_split_it():
    # floor -55: on at -45, off at -49. The voice rises through -47 before it reaches -30,
    # then wavers between the two thresholds (never below off) before it ends.
    rising = track(10, (1.0, 1.5, -47), (1.5, 3.0, -30), (3.0, 6.0, -47), (6.0, 6.02, -44))
    wavering = rising.copy()
    wavering[round(3.0 / W) : round(6.0 / W) : 2] = -44  # every other window above on
    for ch0 in (rising, wavering):
        assert spans(find_turns(levels(ch0, track(10)), P)) == [(0, 1.0, 6.02, False)]


def test_a_sound_that_never_reaches_the_on_threshold_is_no_turn():
    # -47 dBFS for 4 s: above off (-49) throughout, never at on (-45)
    lv = levels(track(10, (2.0, 6.0, -47)), track(10))
    assert find_turns(lv, P) == []


def test_pauses_inside_one_speakers_talk_keep_one_line_and_a_long_pause_starts_another():
    words = [(1.0 + i * 0.5, 1.3 + i * 0.5, -25) for i in range(7)]  # 0.2 s gaps, to 4.3
    lv = levels(
        track(16, *words, (4.7, 6.0, -25), (7.0, 8.0, -25), (10.0, 11.0, -25), (12.98, 14.0, -25)),
        track(16),
    )
    # 0.2, 0.4, 1.0 and 1.98 s pauses are inside the line; the 2.0 s one before 10.0 is not
    assert spans(find_turns(lv, P)) == [(0, 1.0, 8.0, False), (0, 10.0, 14.0, False)]


def test_a_pause_of_0_4_s_inside_a_sentence_is_no_new_line():
    lv = levels(track(8, (1.0, 3.0, -25), (3.4, 5.0, -25)), track(8))
    assert spans(find_turns(lv, P)) == [(0, 1.0, 5.0, False)]


def test_clicks_are_dropped_and_the_shortest_spoken_word_is_kept():
    # a click lights the two windows it straddles; a 0.1 s knock is still no word; "Right."
    # of 0.21 s (the issue's, lost at the old 0.25 s minimum) and "Mm." of 0.14 s are kept
    lv = levels(
        track(12, (2.0, 2.04, -20), (4.0, 4.1, -20), (6.0, 6.21, -25)), track(12, (9.0, 9.14, -25))
    )
    right = (0, 6.0, pytest.approx(6.21, abs=W), False)  # placed to a window, 20 ms
    assert spans(find_turns(lv, P)) == [right, (1, 9.0, 9.14, False)]


def test_a_short_turn_between_two_of_the_other_speakers_is_its_own_line():
    # the client speaks, the coach says "Right." (0.21 s), the client goes on 0.3 s later
    client = track(12, (1.0, 4.0, -24), (4.81, 8.0, -24))
    coach = track(12, (4.3, 4.51, -24))
    turns = find_turns(levels(coach, client), P)
    right = (0, 4.3, pytest.approx(4.51, abs=W), False)
    client_on = (1, pytest.approx(4.81, abs=W), 8.0, False)
    assert spans(turns) == [(1, 1.0, 4.0, False), right, client_on]


def test_the_other_speaker_between_two_runs_keeps_them_apart_even_when_overlapping():
    # the coach talks on; the client's "mm" falls inside the coach's pause: three lines
    coach = track(12, (1.0, 4.0, -24), (4.6, 8.0, -24))
    client = track(12, (3.9, 4.2, -24))
    turns = find_turns(levels(coach, client), P)
    assert spans(turns) == [(0, 1.0, 4.0, True), (1, 3.9, 4.2, True), (0, 4.6, 8.0, False)]


@pytest.mark.parametrize("leak_db", [-20, -12])
def test_the_other_voice_leaking_into_a_microphone_makes_no_turn(leak_db):
    coach = [(1.0, 4.0, -22), (9.0, 11.0, -28)]
    client = [(5.0, 8.0, -26)]
    lv = levels(
        track(12, *coach, *[(s, e, v + leak_db) for s, e, v in client]),
        track(12, *client, *[(s, e, v + leak_db) for s, e, v in coach]),
    )
    assert spans(find_turns(lv, P)) == [
        (0, 1.0, 4.0, False),
        (1, 5.0, 8.0, False),
        (0, 9.0, 11.0, False),
    ]


def test_a_channel_within_the_crosstalk_margin_of_the_loudest_speaks_too():
    # 8 dB below the other: not a leak (that is >= 10 dB below) but a quieter voice at once
    lv = levels(track(8, (1.0, 5.0, -22)), track(8, (1.0, 5.0, -30)))
    assert spans(find_turns(lv, P)) == [(0, 1.0, 5.0, True), (1, 1.0, 5.0, True)]


def test_overlapping_turns_are_both_kept_both_marked_and_sorted_by_start():
    lv = levels(
        track(12, (1.0, 4.0, -25), (6.0, 7.0, -25)),
        track(12, (3.5, 5.5, -25), (8.0, 10.0, -25)),
    )
    assert spans(find_turns(lv, P)) == [
        (0, 1.0, 4.0, True),
        (1, 3.5, 5.5, True),
        (0, 6.0, 7.0, False),
        (1, 8.0, 10.0, False),
    ]


def test_turns_that_only_touch_are_no_overlap():
    lv = levels(track(8, (1.0, 3.0, -25)), track(8, (3.0, 5.0, -25)))
    assert spans(find_turns(lv, P)) == [(0, 1.0, 3.0, False), (1, 3.0, 5.0, False)]


def test_the_noise_floor_is_each_channels_own_so_a_noisy_room_works_as_a_quiet_one():
    rng = np.random.default_rng(3)
    noisy = track(20, (5.0, 9.0, -22), base=-40) + rng.normal(0, 1.0, round(20 / W))
    quiet = track(20, (11.0, 15.0, -35), base=-90)
    floor = noise_floor(levels(noisy, quiet), P)
    assert -42 < floor[0] < -40  # the room, measured (5th percentile of a +-1 dB wobble)
    assert floor[1] == P.floor_min_dbfs  # a very quiet interface: never assumed below -55
    # the noisy room's wobble never makes a turn; the quiet talker at -35 dBFS is heard
    assert spans(find_turns(levels(noisy, quiet), P)) == [
        (0, 5.0, 9.0, False),
        (1, 11.0, 15.0, False),
    ]


def test_a_faint_sound_over_digital_silence_is_no_speech():
    # digital silence (-120) elsewhere: the floor is held at -55, so -50 dBFS is not speech
    lv = levels(track(10, (2.0, 8.0, -50), base=SILENCE_DBFS), track(10, base=SILENCE_DBFS))
    assert find_turns(lv, P) == []


def test_empty_and_silent_input_give_no_turns():
    assert find_turns(np.empty((0, 2)), P) == []
    assert find_paragraphs(np.empty((0, 1)), P) == []
    silent = np.full((5000, 2), SILENCE_DBFS)
    assert find_turns(silent, P) == []
    assert find_paragraphs(silent, P) == []


def test_bad_levels_and_bad_params_are_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match=r"\(windows, channels\)"):
        find_turns(np.zeros(10), P)
    with pytest.raises(ValueError, match="NaN"):
        find_turns(np.array([[np.nan, -20.0]]), P)
    with pytest.raises(ValueError, match=r"off_db 12 must be within 0\.\.on_db"):
        TurnParams(off_db=12)
    with pytest.raises(ValueError, match="window_s 0 must be above 0"):
        TurnParams(window_s=0)


def test_one_microphone_paragraphs_part_at_long_pauses_and_name_no_speaker():
    mono = track(15, (1.0, 3.0, -25), (3.4, 5.0, -25), (6.0, 8.0, -28), (8.4, 9.0, -40))
    assert spans(find_paragraphs(levels(mono), P)) == [
        (None, 1.0, 5.0, False),  # a 0.4 s pause: the same paragraph
        (None, 6.0, 9.0, False),  # after 1.0 s: a new one, which goes on quieter
    ]


def test_one_microphone_mode_hears_every_channel():
    lv = levels(track(10, (1.0, 3.0, -25)), track(10, (5.0, 7.0, -25)))
    assert spans(find_paragraphs(lv, P)) == [(None, 1.0, 3.0, False), (None, 5.0, 7.0, False)]


# ---------------------------------------------------------------- the levels


def test_window_levels_are_rms_dbfs_per_window_and_channel():
    t = np.arange(4800) / RATE
    sine = 0.5 * np.sin(2 * np.pi * 1000 * t)  # RMS 0.5/sqrt(2): -9.03 dBFS
    block = np.stack([sine, np.zeros_like(sine)], axis=1)
    lv = window_levels(block, 960, 1.0)
    assert lv.shape == (5, 2)
    np.testing.assert_allclose(lv[:, 0], 20 * np.log10(0.5 / np.sqrt(2)), atol=0.01)
    assert (lv[:, 1] == SILENCE_DBFS).all()
    ints = np.round(block * 32767).astype(np.int16)
    np.testing.assert_allclose(window_levels(ints, 960, 32768.0), lv, atol=0.01)


def test_window_levels_give_a_short_last_window_a_row_and_stream_block_by_block():
    rng = np.random.default_rng(5)
    audio = rng.integers(-(2**31), 2**31 - 1, size=(10_000, 3), dtype=np.int32)
    whole = window_levels(audio, 960, 2.0**31)
    assert whole.shape == (11, 3)  # 10 windows and a 400-frame rest
    streamed = np.concatenate(
        [window_levels(audio[i : i + 960 * 4], 960, 2.0**31) for i in range(0, 10_000, 960 * 4)]
    )
    np.testing.assert_allclose(streamed, whole, atol=1e-4)
    np.testing.assert_allclose(whole[-1], window_levels(audio[9600:], 960, 2.0**31)[0])


# ---------------------------------------------------------------- real speech


@functools.cache
def spoken(leak_db: float) -> tuple[np.ndarray, tuple[Said, ...]]:
    audio, said = conversation(SCRIPT, RATE, leak_db=leak_db)
    return audio, tuple(said)


def overlapped(said: tuple[Said, ...], i: int) -> bool:
    s = said[i]
    return any(o.start_s < s.end_s and s.start_s < o.end_s for o in said if o is not s)


def check_turns(turns: list[Turn], said: tuple[Said, ...]) -> float:
    """One turn per scripted line, on its channel, overlap where the script overlaps, every
    boundary within TOLERANCE_S; returns the worst boundary error."""
    script = [(s.channel, overlapped(said, i)) for i, s in enumerate(said)]
    assert [(t.channel, t.overlap) for t in turns] == script, (
        f"found {spans(turns)}; the script: {[(s.channel, s.start_s, s.end_s) for s in said]}"
    )
    errors = [
        max(abs(t.start_s - s.start_s), abs(t.end_s - s.end_s))
        for t, s in zip(turns, said, strict=True)
    ]
    assert max(errors) <= TOLERANCE_S, f"boundary errors {errors}"
    return max(errors)


def paragraphs_of(said: tuple[Said, ...], pause_s: float) -> list[tuple[float, float]]:
    """Where the script's paragraphs are: lines joined where the pause is under `pause_s`."""
    out: list[list[float]] = []
    for s in sorted(said, key=lambda s: s.start_s):
        if out and s.start_s - out[-1][1] < pause_s:
            out[-1][1] = max(out[-1][1], s.end_s)
        else:
            out.append([s.start_s, s.end_s])
    return [(a, b) for a, b in out]


def check_paragraphs(found: list[Turn], said: tuple[Said, ...]) -> float:
    expected = paragraphs_of(said, P.paragraph_pause_s)
    assert len(found) == len(expected), f"found {spans(found)}, the script's {expected}"
    assert all(t.channel is None and not t.overlap for t in found)
    errors = [
        max(abs(t.start_s - a), abs(t.end_s - b)) for t, (a, b) in zip(found, expected, strict=True)
    ]
    assert max(errors) <= TOLERANCE_S, f"boundary errors {errors}"
    return max(errors)


@needs_espeak
def test_the_script_has_what_the_real_speech_tests_rely_on():
    _, said = spoken(-20)
    assert [s.channel for s in said] == [0, 1, 0, 1, 0, 1]  # it alternates
    assert [overlapped(said, i) for i in range(len(said))].count(True) == 2  # once, two lines
    # the one-mic tests expect five paragraphs, one of them the overlapping pair
    assert len(paragraphs_of(said, P.paragraph_pause_s)) == 5


@needs_espeak
@pytest.mark.parametrize(
    ("leak_db", "client_gain_db", "room_dbfs"),
    [
        (-20, 0, None),  # the case
        (-12, 0, None),  # a louder leak: still 2 dB outside the crosstalk margin
        (-20, -6, None),  # the client's preamp 6 dB lower (its own voice and its leak)
        (-20, 0, -45),  # a noisy room: white noise at -45 dBFS on both microphones
    ],
)
def test_turns_of_two_voices_match_the_script_with_no_turn_from_the_leak(
    leak_db, client_gain_db, room_dbfs
):
    audio, said = spoken(leak_db)
    audio = audio * np.array([1.0, 10 ** (client_gain_db / 20)], dtype=np.float32)
    if room_dbfs is not None:
        rng = np.random.default_rng(11)
        audio = audio + rng.normal(0, 10 ** (room_dbfs / 20), audio.shape).astype(np.float32)
    turns = find_turns(window_levels(audio, round(W * RATE), 1.0), P)
    check_turns(turns, said)


@needs_espeak
def test_one_microphone_paragraphs_of_the_same_conversation_mixed_down():
    audio, said = spoken(-20)
    mono = audio.mean(axis=1, keepdims=True)
    check_paragraphs(find_paragraphs(window_levels(mono, round(W * RATE), 1.0), P), said)


# ---------------------------------------------------------------- through real segment files


def split_session(folder: Path, audio: np.ndarray, cut: int, fmt: str = "S16_LE"):
    """The audio as a finalized session of two WAV segments, cut at frame `cut`."""
    sf = FORMATS[fmt]
    ints = np.clip(np.round(audio * sf.full_scale), -sf.full_scale, sf.full_scale - 1)
    ints = ints.astype(np.int64)
    chunks = [[encode(ints[:cut], sf)], [encode(ints[cut:], sf)]]
    return write_session(folder, chunks, RATE, audio.shape[1], fmt)


@needs_espeak
@pytest.mark.parametrize("fmt", ["S16_LE", "S24_3LE"])
def test_turns_from_a_session_on_disk_split_across_two_segments(tmp_path, fmt):
    audio, said = spoken(-20)
    # cut inside the client's first line, not on a window boundary (48000 * 8 + 333)
    manifest = split_session(tmp_path / "session", audio, RATE * 8 + 333, fmt)
    assert len(manifest.segments) == 2
    lv = session_levels(tmp_path / "session", manifest, W)
    assert lv.shape == (-(-len(audio) // round(W * RATE)), 2)
    # the windows run across the cut as if the session were one file
    in_memory = window_levels(to_int16(audio), round(W * RATE), 32768.0)
    speech = in_memory > -60  # where 16-bit rounding does not matter
    np.testing.assert_allclose(lv[speech], in_memory[speech], atol=0.05)
    check_turns(find_turns(lv, P), said)


@needs_espeak
def test_one_microphone_paragraphs_from_a_mono_session_on_disk(tmp_path):
    audio, said = spoken(-20)
    mono = audio.mean(axis=1, keepdims=True)
    manifest = split_session(tmp_path / "session", mono, RATE * 12 + 7)
    lv = session_levels(tmp_path / "session", manifest)
    assert lv.shape[1] == 1
    check_paragraphs(find_paragraphs(lv, P), said)


def test_a_segment_shorter_than_its_manifest_says_is_an_error_naming_it(tmp_path):
    audio = np.zeros((RATE, 2), dtype=np.float32)
    manifest = split_session(tmp_path / "session", audio, RATE // 2)
    seg = manifest.segments[1]
    bad = manifest.model_copy(
        update={
            "segments": [manifest.segments[0], seg.model_copy(update={"frames": seg.frames + 5})]
        }
    )
    with pytest.raises(ValueError, match=r"seg-0001\.wav.*manifest says"):
        session_levels(tmp_path / "session", bad)


def test_a_window_that_is_no_whole_number_of_frames_is_refused(tmp_path):
    manifest = split_session(tmp_path / "session", np.zeros((RATE, 2), np.float32), 100)
    with pytest.raises(ValueError, match="not a whole number of frames at 48000 Hz"):
        session_levels(tmp_path / "session", manifest, 0.0201234)
