"""Adapting a copy of the network to a shot's keyframes: what moves, what never does, and every way it stops."""

import math

import numpy as np
import pytest
import torch

from engine.learning.adaptation import Adaptation, AdaptOptions, AdaptProgress, adaptation_steps
from engine.model import AFBURR
from engine.model.config import named_config

HEIGHT, WIDTH = 48, 64


@pytest.fixture
def network() -> AFBURR:
    torch.manual_seed(0)
    return AFBURR(named_config("tiny")).eval()


def keyframe(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    labels[8:30, 10:34] = 4
    labels[24:44, 36:60] = 9
    image[labels == 4] = (220, 40, 40)
    return image, labels


def adapt(model: AFBURR, keyframes, options: AdaptOptions, seen: list[AdaptProgress] | None = None) -> Adaptation:
    """Run the adaptation to its end, keeping the progress it yields."""
    run = adaptation_steps(model, keyframes, options)
    while True:
        try:
            progress = next(run)
        except StopIteration as finished:
            return finished.value
        if seen is not None:
            seen.append(progress)


def state(model: AFBURR) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_the_copy_learns_the_decoder_and_the_network_given_stays_as_it_was(network):
    before = state(network)
    result = adapt(network, [keyframe()], AdaptOptions(steps=3, clips_per_step=1))
    assert result.adapted and result.fallback is None and result.steps == 3
    assert result.model is not network and not result.model.training
    assert all(torch.equal(value, before[key]) for key, value in network.state_dict().items())
    changed = {key for key, value in result.model.state_dict().items() if not torch.equal(value, before[key])}
    assert changed and all(key.startswith("decoder.") for key in changed)
    assert not any(p.requires_grad for p in result.model.parameters())
    assert math.isfinite(result.first_loss) and math.isfinite(result.last_loss) and result.seconds > 0


def test_the_memory_encoder_learns_too_when_asked(network):
    before = state(network)
    result = adapt(network, [keyframe()], AdaptOptions(steps=2, clips_per_step=1, parts="decoder+memory"))
    changed = {key for key, value in result.model.state_dict().items() if not torch.equal(value, before[key])}
    assert any(key.startswith("encoder_m.") for key in changed)
    assert not any(key.startswith("encoder_q.") for key in changed)


def test_a_fixed_seed_learns_the_same_weights(network):
    first, second = (adapt(network, [keyframe(), keyframe(1)], AdaptOptions(steps=2)) for _ in range(2))
    learnt = [adaptation.model.state_dict() for adaptation in (first, second)]
    assert all(torch.equal(value, learnt[1][key]) for key, value in learnt[0].items())


def test_progress_comes_after_every_step(network):
    seen = []
    adapt(network, [keyframe()], AdaptOptions(steps=3, clips_per_step=1), seen)
    assert [p.step for p in seen] == [1, 2, 3] and all(p.steps == 3 for p in seen)
    assert seen[-1].seconds_left == 0 and all(math.isfinite(p.loss) and p.seconds > 0 for p in seen)


def test_a_loss_that_is_not_finite_falls_back_to_the_base_network(network):
    with torch.no_grad():
        next(network.decoder.parameters()).fill_(float("nan"))
    result = adapt(network, [keyframe()], AdaptOptions(steps=5, clips_per_step=1))
    assert result.model is network and result.steps == 0
    assert result.fallback == "the adaptation's loss was not finite at step 1"


def test_empty_keyframes_are_skipped_and_none_at_all_is_refused(network):
    image, labels = keyframe()
    assert adapt(network, [(image, np.zeros_like(labels)), (image, labels)], AdaptOptions(steps=1)).adapted
    with pytest.raises(ValueError, match="every keyframe given is empty"):
        adapt(network, [(image, np.zeros_like(labels))], AdaptOptions(steps=1))
    with pytest.raises(ValueError, match="every keyframe given is empty"):
        adapt(network, [], AdaptOptions(steps=1))


def test_a_keyframe_smaller_than_the_network_s_stride_is_refused(network):
    image, labels = keyframe()
    with pytest.raises(ValueError, match="at least 16 x 16"):
        adapt(network, [(image[8:16], labels[8:16])], AdaptOptions(steps=1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "at least one step"),
        ({"clips_per_step": 0}, "at least one step"),
        ({"frames": 1}, "two frames or more"),
        ({"lr": 0.0}, "positive number"),
        ({"lr": float("nan")}, "positive number"),
        ({"parts": "everything"}, "parts must be one of decoder, decoder\\+memory"),
    ],
)
def test_options_out_of_bounds_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        AdaptOptions(**options)


def test_an_implicit_background_network_adapts(network):
    from dataclasses import replace

    implicit = AFBURR(replace(network.config, background="implicit"))
    implicit.load_state_dict(network.state_dict())
    assert adapt(implicit.eval(), [keyframe()], AdaptOptions(steps=2, clips_per_step=1)).adapted


def test_a_lite_network_learns_its_decoder_with_its_frozen_encoders_folded():
    """Where neither encoder learns, the copy starts from the inference form, whose encoders have no batch norms
    left to run; only its decoder moves, and a memory encoder that learns keeps its batch norms."""
    torch.manual_seed(0)
    lite = AFBURR(named_config("lite0")).eval()
    before, folded = state(lite), state(lite.for_inference())
    result = adapt(lite, [keyframe()], AdaptOptions(steps=2, clips_per_step=1))
    assert result.adapted and result.model.folded and result.model.for_inference() is result.model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in result.model.modules())
    changed = {key for key, value in result.model.state_dict().items() if not torch.equal(value, folded[key])}
    assert changed and all(key.startswith("decoder.") for key in changed)
    assert all(torch.equal(value, before[key]) for key, value in lite.state_dict().items())
    learning_memory = adapt(lite, [keyframe()], AdaptOptions(steps=1, clips_per_step=1, parts="decoder+memory"))
    assert not learning_memory.model.folded
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in learning_memory.model.encoder_m.modules())
