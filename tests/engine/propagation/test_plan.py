"""Which passes fill which frames, and what a corrected keyframe invalidates."""

import pytest

from engine.propagation.plan import affected_range, plan


def outputs(segments):
    return [frame for segment in segments for frame in segment.outputs]


def test_forward_from_one_keyframe_fills_the_frames_after_it_only():
    (segment,) = plan([3], 0, 6, "forward")
    assert segment.outputs == (4, 5, 6)
    assert segment.forward_from == 3 and segment.forward_frames == (4, 5, 6)
    assert segment.backward_from is None


def test_backward_runs_from_the_keyframe_towards_the_start():
    (segment,) = plan([3], 0, 6, "backward")
    assert segment.outputs == (0, 1, 2)
    assert segment.backward_frames == (2, 1, 0)


def test_both_between_two_keyframes_runs_a_pass_from_each():
    segments = plan([2, 6], 0, 8, "both")
    assert outputs(segments) == [0, 1, 3, 4, 5, 7, 8]
    middle = segments[1]
    assert (middle.forward_from, middle.backward_from) == (2, 6)
    assert middle.forward_frames == (3, 4, 5) and middle.backward_frames == (5, 4, 3)


def test_passes_start_at_the_keyframe_even_when_the_range_starts_later():
    (segment,) = plan([0], 5, 7, "forward")
    assert segment.outputs == (5, 6, 7)
    assert segment.forward_frames == (1, 2, 3, 4, 5, 6, 7)


@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_the_results_of_a_segment_do_not_depend_on_the_range(direction):
    full = {s.outputs[0]: s for s in plan([0, 10, 20], 0, 25, direction)}
    for segment in plan([0, 10, 20], 12, 18, direction):
        twin = full[min(key for key in full if segment.outputs[0] in full[key].outputs)]
        assert (segment.forward_from, segment.backward_from) == (twin.forward_from, twin.backward_from)


@pytest.mark.parametrize(("direction", "expected"), [("forward", (12, 19)), ("backward", (11, 12)), ("both", (11, 19))])
def test_a_corrected_keyframe_invalidates_only_the_segments_that_touch_it(direction, expected):
    assert affected_range([0, 10, 20], 12, 0, 30, direction) == expected


def test_the_affected_range_is_clipped_to_the_propagated_range():
    assert affected_range([0], 5, 0, 8, "both") == (1, 8)
    assert affected_range([0], 5, 6, 8, "backward") is None


@pytest.mark.parametrize(
    ("keyframes", "first", "last", "direction"),
    [([], 0, 5, "both"), ([0], 5, 2, "both"), ([0], 0, 5, "sideways")],
)
def test_impossible_plans_are_refused(keyframes, first, last, direction):
    with pytest.raises(ValueError):
        plan(keyframes, first, last, direction)
