"""The per-shot propagation with the parity weights: ids, resolutions, directions, keyframes, re-propagation.

The parity weights are not trained, so the mattes mean nothing; what is checked is that the loop computes what
the reference computes (golden labels), keeps object ids, and that results depend only on what they should.
"""

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.model import AFBURR
from engine.model.calibration import ConfidenceCalibration
from engine.model.config import named_config
from engine.propagation import confidence
from engine.propagation.bank import BankConfig
from engine.propagation.confidence import distance_discount
from engine.propagation.plan import affected_range
from engine.propagation.propagator import Propagator, Settings, internal_size

HEIGHT, WIDTH, LENGTH = 48, 64, 7


@pytest.fixture(scope="module")
def shot() -> list[np.ndarray]:
    generator = np.random.default_rng(7)
    base = generator.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return [np.roll(base, 2 * t, axis=1) for t in range(LENGTH)]


def mask(ids=(1, 2), shift=0) -> np.ndarray:
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    labels[8:24, 8 + shift : 28 + shift] = ids[0]
    labels[28:44, 30 + shift : 56 + shift] = ids[1]
    return labels


def run(model, frames, keyframes, first=0, last=LENGTH - 1, direction="both", ids=(1, 2), **settings):
    propagator = Propagator(model, frames, ids, Settings(**settings))
    return {result.index: result for result in propagator.run(keyframes, first, last, direction)}


def test_the_golden_case_comes_out_of_the_propagator(parity_model, golden):
    case = golden["blackswan_1obj"]
    bank = BankConfig(int(case["budget"]), float(case["update_rate"]), float(case["thres_close"]), False)
    frames = list(case["frames"])
    results = run(
        parity_model, frames, {0: case["first_mask"]}, 0, len(frames) - 1, "forward", (1,), max_size=0, bank=bank
    )
    labels = np.stack([results[t].labels for t in range(1, len(frames))])
    assert (labels == case["labels"]).mean() >= 0.999


def test_object_ids_need_not_be_contiguous(parity_model, shot):
    contiguous = run(parity_model, shot, {0: mask((1, 2))}, direction="forward")
    sparse = run(parity_model, shot, {0: mask((3, 200))}, direction="forward", ids=(3, 200))
    for index, result in sparse.items():
        assert result.object_ids == (3, 200)
        np.testing.assert_array_equal(result.mattes, contiguous[index].mattes)
        relabelled = np.choose(contiguous[index].labels, [0, 3, 200]).astype(np.uint8)
        np.testing.assert_array_equal(result.labels, relabelled)
        assert [obj.id for obj in result.objects] == [3, 200]


def test_frames_are_processed_small_and_returned_at_plate_size(parity_model, shot):
    assert internal_size(HEIGHT, WIDTH, 24) == (24, 32)
    assert internal_size(HEIGHT, WIDTH, 0) == (HEIGHT, WIDTH)
    results = run(parity_model, shot, {0: mask()}, direction="forward", max_size=24)
    for result in results.values():
        assert result.mattes.shape == (2, HEIGHT, WIDTH) and result.mattes.dtype == np.float32
        assert result.labels.shape == (HEIGHT, WIDTH) and result.uncertainty.shape == (HEIGHT, WIDTH)
        assert result.mattes.min() >= 0 and result.mattes.max() <= 1
        assert all(0 <= obj.confidence <= 1 for obj in result.objects)


def test_without_a_size_the_network_runs_at_its_own(parity_model, shot):
    assert Propagator(parity_model, shot, (1, 2), Settings()).internal_size == (HEIGHT, WIDTH)
    small = copy.copy(parity_model)  # shares the weights; only the size it asks for differs
    small.default_max_size = 24
    assert Propagator(small, shot, (1, 2), Settings()).internal_size == (24, 32)
    assert Propagator(small, shot, (1, 2), Settings(max_size=0)).internal_size == (HEIGHT, WIDTH)
    assert Propagator(small, shot, (1, 2), Settings(max_size=36)).internal_size == (36, 48)


def test_the_keyframe_comes_back_as_drawn(parity_model, shot):
    result = run(parity_model, shot, {3: mask()}, direction="both")[3]
    assert result.source == "keyframe"
    np.testing.assert_array_equal(result.labels, mask())
    assert [obj.confidence for obj in result.objects] == [1.0, 1.0]


def test_confidence_is_discounted_by_the_distance_from_the_keyframe_of_its_pass(parity_model, shot, monkeypatch):
    discounted = run(parity_model, shot, {3: mask()}, direction="both")
    monkeypatch.setattr(confidence, "DRIFT_FRAMES", math.inf)
    undiscounted = run(parity_model, shot, {3: mask()}, direction="both")
    monkeypatch.undo()
    for index, result in discounted.items():
        ours = [obj.confidence for obj in result.objects]
        plain = [obj.confidence * distance_discount(index - 3) for obj in undiscounted[index].objects]
        assert ours == pytest.approx(plain, abs=1e-6)


def test_the_memory_interval_follows_the_network_unless_asked(parity_model, shot):
    every_frame = run(parity_model, shot, {0: mask()}, direction="forward")
    assert run(parity_model, shot, {0: mask()}, direction="forward", memory_every=1)[6].mattes.tobytes() == (
        every_frame[6].mattes.tobytes()
    )
    sparse = copy.copy(parity_model)  # shares the weights; only the interval it asks for differs
    sparse.default_memory_every = 3
    own = run(sparse, shot, {0: mask()}, direction="forward")
    asked = run(parity_model, shot, {0: mask()}, direction="forward", memory_every=3)
    np.testing.assert_array_equal(own[6].mattes, asked[6].mattes)
    assert not np.array_equal(own[6].mattes, every_frame[6].mattes)
    with pytest.raises(ValueError, match="memory_every"):
        Settings(memory_every=0)


def test_directions_reach_the_frames_they_should(parity_model, shot):
    forward = run(parity_model, shot, {3: mask()}, direction="forward")
    backward = run(parity_model, shot, {3: mask()}, direction="backward")
    assert list(forward) == [3, 4, 5, 6]
    assert list(backward) == [3, 2, 1, 0]  # computed walking away from the keyframe
    assert {r.source for i, r in backward.items() if i != 3} == {"backward"}


def test_between_two_keyframes_each_frame_takes_the_more_confident_pass(parity_model, shot):
    keyframes = {0: mask(), 6: mask(shift=6)}
    both = run(parity_model, shot, keyframes, direction="both")
    forward = run(parity_model, shot, {0: mask()}, direction="forward")
    backward = run(parity_model, shot, {6: mask(shift=6)}, direction="backward")
    for index in range(1, 6):
        candidates = {"forward": forward[index], "backward": backward[index]}
        chosen = candidates[both[index].source]
        other = candidates["backward" if both[index].source == "forward" else "forward"]
        np.testing.assert_array_equal(both[index].mattes, chosen.mattes)
        assert np.mean([o.confidence for o in chosen.objects]) >= np.mean([o.confidence for o in other.objects])


def test_repropagating_the_affected_range_reproduces_a_full_run(parity_model, shot):
    keyframes = {0: mask(), 4: mask(shift=4)}
    full = run(parity_model, shot, keyframes, direction="both")
    first, last = affected_range([0], 4, 0, LENGTH - 1, "both")
    partial = run(parity_model, shot, keyframes, first, last, direction="both")
    assert sorted(partial) == list(range(first, last + 1))
    for index, result in partial.items():
        np.testing.assert_array_equal(result.mattes, full[index].mattes)


def test_contours_come_at_plate_resolution_on_request(parity_model, shot):
    results = run(parity_model, shot, {0: mask()}, last=2, direction="forward", contours=True, max_size=24)
    polygons = results[0].contours[1].polygons
    assert polygons and not polygons[0].hole
    assert results[0].contours[1].tolerance == 1.0  # the default, which a simple outline never needs to grow
    points = np.concatenate([p.points for p in polygons])
    assert points[:, 0].max() < WIDTH and points[:, 1].max() < HEIGHT
    assert results[1].contours.keys() == {1, 2}


@pytest.mark.parametrize(
    ("keyframes", "first", "last", "ids", "message"),
    [
        ({0: np.zeros((10, 10), np.uint8)}, 0, 3, (1,), "mask"),
        ({0: mask()}, 0, LENGTH, (1, 2), "range"),
        ({9: mask()}, 0, 3, (1, 2), "keyframe 9"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(parity_model, shot, keyframes, first, last, ids, message):
    with pytest.raises(ValueError, match=message):
        list(Propagator(parity_model, shot, ids).run(keyframes, first, last))


@pytest.mark.parametrize("ids", [(), (0,), (256,), (1, 1)])
def test_object_ids_must_be_distinct_and_in_range(parity_model, shot, ids):
    with pytest.raises(ValueError, match="object ids"):
        Propagator(parity_model, shot, ids)


def test_a_given_plate_size_spares_reading_frame_zero(parity_model, shot):
    class CountingFrames(list):
        reads = 0

        def __getitem__(self, index):
            CountingFrames.reads += 1
            return super().__getitem__(index)

    Propagator(parity_model, CountingFrames(shot), (1, 2), plate_size=(HEIGHT, WIDTH))
    assert CountingFrames.reads == 0


def test_a_network_with_an_implicit_background_propagates_each_object(shot):
    """Its bank holds the objects alone, and each frame still gets a matte per object and a label map."""
    torch.manual_seed(0)
    model = AFBURR(replace(named_config("tiny"), background="implicit"))
    results = run(model, shot, {0: mask()}, direction="forward")
    assert sorted(results) == list(range(LENGTH))
    for result in results.values():
        assert result.mattes.shape == (2, HEIGHT, WIDTH) and 0 <= result.mattes.min() <= result.mattes.max() <= 1
        assert set(np.unique(result.labels)) <= {0, 1, 2}
    np.testing.assert_array_equal(results[0].labels, mask())


@pytest.fixture
def tiny() -> AFBURR:
    torch.manual_seed(0)
    return AFBURR(named_config("tiny")).eval()


def test_with_adapt_a_copy_learns_the_keyframes_first_and_propagates(tiny, shot):
    before = copy.deepcopy(tiny.state_dict())
    heard = []
    propagator = Propagator(tiny, shot, (1, 2), Settings(adapt=2), on_adapt=heard.append)
    results = {result.index: result for result in propagator.run({0: mask()}, 0, LENGTH - 1, "forward")}
    assert sorted(results) == list(range(LENGTH)) and [p.step for p in heard] == [1, 2]
    assert propagator.adaptation is not None and propagator.adaptation.adapted and propagator.model is not tiny
    assert all(torch.equal(value, before[key]) for key, value in tiny.state_dict().items())
    plain = run(tiny, shot, {0: mask()}, direction="forward")
    assert any(not np.array_equal(plain[t].mattes, results[t].mattes) for t in range(1, LENGTH))


def test_adaptation_steps_are_network_steps_so_a_stop_ends_it_between_two(tiny, shot):
    propagator = Propagator(tiny, shot, (1, 2), Settings(adapt=50))
    steps = propagator.steps({0: mask()}, 0, LENGTH - 1, "forward")
    assert next(steps) == [] and next(steps) == []
    steps.close()
    assert propagator.adaptation is None and propagator.model is tiny.for_inference()


def test_an_adaptation_that_diverges_propagates_with_the_base_network(tiny, shot, caplog):
    with torch.no_grad():
        next(tiny.decoder.parameters()).fill_(float("nan"))
    propagator = Propagator(tiny, shot, (1, 2), Settings(adapt=3))
    with caplog.at_level("WARNING"):
        results = list(propagator.run({0: mask()}, 0, 2, "forward"))
    assert len(results) == 3 and propagator.model is tiny.for_inference()
    assert "propagating without learning the keyframes: the adaptation's loss was not finite at step 1" in caplog.text


def test_what_a_run_learnt_is_reused_for_the_same_keyframes_and_refined_for_a_correction(tiny, shot, caplog):
    first = Propagator(tiny, shot, (1, 2), Settings(adapt=8))
    list(first.run({0: mask()}, 0, LENGTH - 1, "forward"))
    assert first.learned is not None and first.adaptation.steps == 8
    again = Propagator(tiny, shot, (1, 2), Settings(adapt=8), learned=first.learned)
    with caplog.at_level("INFO"):
        list(again.run({0: mask()}, 0, LENGTH - 1, "forward"))
    assert again.adaptation is None and again.learned is first.learned and "keyframes already learnt" in caplog.text
    corrected = {0: mask(), 4: mask(shift=8)}
    refined = Propagator(tiny, shot, (1, 2), Settings(adapt=8), learned=first.learned)
    with caplog.at_level("INFO"):
        list(refined.run(corrected, 0, LENGTH - 1, "forward"))
    assert refined.adaptation.steps == 2 and refined.learned.model is not first.learned.model
    learnt = [r.fields for r in caplog.records if r.getMessage() == "learned the keyframes"]
    assert learnt[-1]["start"] == "earlier adaptation" and learnt[-1]["steps"] == 2
    fresh = Propagator(tiny, shot, (1, 2), Settings(adapt=8))
    list(fresh.run(corrected, 0, LENGTH - 1, "forward"))
    assert fresh.adaptation.steps == 8
    list(fresh.run({0: mask()}, 0, LENGTH - 1, "forward"))  # the same propagator, its keyframes changed again
    assert fresh.adaptation.steps == 2  # refined from what it learnt, not left with the old keyframes


def test_a_negative_adaptation_budget_is_refused():
    with pytest.raises(ValueError, match="adapt must be 0"):
        Settings(adapt=-1)


def test_a_calibrated_network_reports_its_estimate_of_j_and_the_same_mattes(parity_model, shot):
    raw = run(parity_model, shot, {0: mask()}, direction="forward")
    calibrated_model = copy.copy(parity_model)  # shares the weights; only the calibration differs
    calibrated_model.confidence_calibration = ConfidenceCalibration((0.0, 0.5, 1.0), (0.0, 0.1, 1.0))
    calibrated = run(calibrated_model, shot, {0: mask()}, direction="forward")
    for index, result in calibrated.items():
        np.testing.assert_array_equal(result.mattes, raw[index].mattes)
        for ours, theirs in zip(result.objects, raw[index].objects, strict=True):
            if index == 0:
                assert ours.confidence == theirs.confidence == 1  # a keyframe is what the artist drew
            else:
                expected = float(calibrated_model.confidence_calibration(np.float32(theirs.confidence)))
                assert ours.confidence == pytest.approx(expected, abs=1e-6)
