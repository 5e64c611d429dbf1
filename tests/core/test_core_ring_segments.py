"""The pre-roll ring and the segment plan: pure bookkeeping of frames."""

from __future__ import annotations

import random

import pytest

from recorder.core.recording.blocks import Block, Gap
from recorder.core.recording.ring import PrerollRing
from recorder.core.recording.segments import Piece, SegmentPlan


def block(pos: int, frames: int) -> Block:
    return Block(pos, frames, bytes(frames * 4))


# ---- PrerollRing ------------------------------------------------------------------------


def test_ring_holds_up_to_capacity_and_drops_oldest_whole_blocks():
    ring = PrerollRing(250)
    blocks = [block(i * 100, 100) for i in range(4)]
    for b in blocks:
        ring.push(b)
    assert ring.frames == 200
    assert ring.drain() == blocks[2:]


def test_ring_exactly_full_keeps_everything():
    ring = PrerollRing(300)
    blocks = [block(i * 100, 100) for i in range(3)]
    for b in blocks:
        ring.push(b)
    assert ring.frames == 300
    assert ring.drain() == blocks


def test_ring_drops_a_block_larger_than_its_capacity():
    ring = PrerollRing(100)
    ring.push(block(0, 50))
    ring.push(block(50, 101))
    assert ring.frames == 0
    assert ring.drain() == []


def test_ring_matches_a_reference_model_on_random_blocks():
    """After any pushes the ring holds the longest run of newest blocks that fits."""
    rng = random.Random(7)
    for _ in range(200):
        capacity = rng.randint(1, 500)
        ring = PrerollRing(capacity)
        pushed: list[Block] = []
        pos = 0
        for _ in range(rng.randint(0, 30)):
            b = block(pos, rng.randint(1, 200))
            pos += b.frames
            pushed.append(b)
            ring.push(b)
        expected: list[Block] = []
        for b in reversed(pushed):
            if sum(x.frames for x in expected) + b.frames > capacity:
                break
            expected.insert(0, b)
        assert ring.frames == sum(b.frames for b in expected) <= capacity
        assert ring.drain() == expected


def test_ring_keeps_gaps_in_order_and_does_not_count_them():
    ring = PrerollRing(1000)
    items = [
        block(0, 100),
        Gap("overrun", 100, 30, True),
        block(130, 100),
        Gap("device_lost", 230, 50),
    ]
    for item in items:
        ring.push(item)
    assert ring.frames == 200
    assert ring.drain() == items


def test_ring_drops_gaps_that_become_leading():
    ring = PrerollRing(200)
    b1, gap, b2, b3 = block(0, 100), Gap("overrun", 100, 10), block(110, 100), block(210, 100)
    for item in (b1, gap, b2, b3):
        ring.push(item)
    assert ring.drain() == [b2, b3]


def test_ring_drops_a_gap_pushed_into_an_empty_ring():
    ring = PrerollRing(200)
    ring.push(Gap("overrun", 0, 10))
    assert ring.drain() == []
    b = block(10, 50)
    ring.push(Gap("overrun", 0, 10))
    ring.push(b)
    assert ring.drain() == [b]


def test_ring_with_zero_capacity_holds_nothing():
    ring = PrerollRing(0)
    ring.push(block(0, 10))
    ring.push(Gap("overrun", 10, 5))
    ring.push(block(15, 1))
    assert ring.frames == 0
    assert ring.drain() == []


def test_ring_rejects_negative_capacity():
    with pytest.raises(ValueError):
        PrerollRing(-1)


def test_drain_empties_the_ring():
    ring = PrerollRing(500)
    first = block(0, 100)
    ring.push(first)
    assert ring.drain() == [first]
    assert ring.frames == 0
    assert ring.drain() == []
    second = block(100, 100)
    ring.push(second)
    assert ring.frames == 100
    assert ring.drain() == [second]


# ---- SegmentPlan ------------------------------------------------------------------------


def check_plan(segment_frames: int, block_sizes: list[int]) -> None:
    """Every frame placed once, in order, in segment `frame // segment_frames`."""
    plan = SegmentPlan(segment_frames)
    stream = 0  # session frame of the current block's first frame
    for size in block_sizes:
        pieces = plan.place(size)
        offset = 0
        for p in pieces:
            assert p.offset == offset  # contiguous within the block, in order
            assert 0 < p.frames <= segment_frames
            first = stream + p.offset
            last = first + p.frames - 1
            assert p.segment == first // segment_frames == last // segment_frames
            assert p.opens == (first % segment_frames == 0)
            offset += p.frames
        assert offset == size  # the whole block, once
        stream += size


def test_plan_places_every_frame_once_in_order_for_random_sizes():
    rng = random.Random(1234)
    for _ in range(500):
        segment_frames = rng.choice([1, 2, 7, 48, 100, rng.randint(1, 5000)])
        sizes = [
            # smaller than, about equal to and several times the segment size
            rng.choice([0, 1, rng.randint(1, 300), rng.randint(1, 4 * segment_frames + 10)])
            for _ in range(rng.randint(0, 40))
        ]
        check_plan(segment_frames, sizes)


def test_plan_splits_a_block_that_straddles_boundaries():
    plan = SegmentPlan(100)
    assert plan.place(60) == [Piece(0, 0, 60, True)]
    assert plan.place(250) == [
        Piece(0, 0, 40, False),
        Piece(1, 40, 100, True),
        Piece(2, 140, 100, True),
        Piece(3, 240, 10, True),
    ]


def test_plan_of_zero_frames_is_empty():
    plan = SegmentPlan(100)
    assert plan.place(0) == []
    assert plan.place(10) == [Piece(0, 0, 10, True)]


def test_plan_rejects_non_positive_segment_size():
    with pytest.raises(ValueError):
        SegmentPlan(0)


def test_break_segment_opens_a_new_segment_at_the_next_frame():
    plan = SegmentPlan(100)
    plan.place(30)
    plan.break_segment()
    assert plan.place(10) == [Piece(1, 0, 10, True)]
    # the new segment is a full-length one again
    assert plan.place(100) == [Piece(1, 0, 90, False), Piece(2, 90, 10, True)]


def test_break_segment_before_any_frame_is_a_no_op():
    plan = SegmentPlan(100)
    plan.break_segment()
    assert plan.place(10) == [Piece(0, 0, 10, True)]


def test_break_segment_twice_opens_only_one_new_segment():
    plan = SegmentPlan(100)
    plan.place(30)
    plan.break_segment()
    plan.break_segment()  # the new segment has no frames yet: nothing to end
    assert plan.place(10) == [Piece(1, 0, 10, True)]


def test_break_segment_at_a_boundary_does_not_skip_an_index():
    plan = SegmentPlan(100)
    plan.place(100)
    plan.break_segment()
    assert plan.place(10) == [Piece(1, 0, 10, True)]
