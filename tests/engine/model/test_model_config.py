"""Named configurations: each builds, runs a frame, and comes back from its checkpoint as the same network."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.choices import BACKGROUNDS
from engine.errors import CheckpointError
from engine.model import AFBURR, MemoryView, ReadOptions
from engine.model.afburr import Segmentation
from engine.model.config import CONFIGS, REFERENCE, ModelConfig, named_config
from engine.model.loader import load_network
from engine.model.weights import load_model, save_checkpoint, save_weights


def _segment_two_objects(model: AFBURR) -> tuple[torch.Tensor, Segmentation]:
    """Memorise a frame with two objects and segment it: the memorised keys and the segmentation."""
    torch.manual_seed(0)
    frame, masks = torch.rand(1, 3, 64, 96), torch.zeros(3, 64, 96)
    masks[0], masks[1, 10:30, 10:40], masks[2, 40:60, 50:90] = 1, 1, 1
    masks[0] -= masks[1] + masks[2]
    with torch.inference_mode():
        keys, values = model.encode_memory(frame, masks)
        query = model.encode_query(frame)
        readout = model.read(query, MemoryView(keys, values, None), ReadOptions())
        return keys, model.decode(readout.features, query)


@pytest.mark.parametrize("skip_blocks", [True, False])
@pytest.mark.parametrize("background", BACKGROUNDS)
@pytest.mark.parametrize("name", [name for name in CONFIGS if name != REFERENCE.name])
def test_a_small_configuration_segments_a_frame(name, background, skip_blocks):
    model = AFBURR(replace(named_config(name), background=background, skip_blocks=skip_blocks))
    assert any(".ResFS." in key for key in model.state_dict()) == skip_blocks
    keys, segmentation = _segment_two_objects(model)
    assert keys.shape[:2] == (model.config.memory_classes(2), model.config.key_dim)
    assert segmentation.logits.shape == (1, 3, 64, 96)  # background first, whatever the network memorised
    assert torch.isfinite(segmentation.logits).all()


def test_an_implicit_background_is_what_no_object_claims():
    torch.manual_seed(0)
    _, segmentation = _segment_two_objects(AFBURR(replace(named_config("tiny"), background="implicit")))
    probs = segmentation.logits[0].sigmoid()
    torch.testing.assert_close(probs[0], (1 - probs[1]) * (1 - probs[2]), atol=1e-5, rtol=0)


def test_smaller_configurations_are_much_smaller():
    sizes = {name: sum(p.numel() for p in AFBURR(config).parameters()) for name, config in CONFIGS.items()}
    assert sizes[REFERENCE.name] == 33_082_660
    assert sizes["small"] < sizes[REFERENCE.name] / 5
    assert sizes["tiny"] < sizes["small"] / 4


def test_the_configuration_travels_in_the_checkpoint(tmp_path):
    model = AFBURR(named_config("tiny"))
    path = save_weights(model, tmp_path / "tiny.pth", provenance={"source": "test"})
    loaded = load_network(path, device="cpu")
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_a_checkpoint_without_configuration_is_the_reference_one(tmp_path):
    path = save_checkpoint({"model": AFBURR(named_config("tiny")).state_dict()}, tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match="does not fit the afb-urr-r50 network"):
        load_model(path)


@pytest.mark.parametrize(
    "stored",
    [{"name": "x"}, {**named_config("tiny").to_dict(), "depth": 3}, {**named_config("tiny").to_dict(), "stem": -1}, 7],
)
def test_a_damaged_stored_configuration_is_a_clear_error(tmp_path, stored):
    model = AFBURR(named_config("tiny"))
    checkpoint = {"model": model.state_dict(), "maskprop": {"model": stored}}
    path = save_checkpoint(checkpoint, tmp_path / "damaged.pth")
    with pytest.raises(CheckpointError, match="model configuration"):
        load_model(path)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="tiny"):
        named_config("huge")


def test_configurations_round_trip_through_plain_values():
    for config in CONFIGS.values():
        assert ModelConfig.from_dict(config.to_dict()) == config


def test_a_checkpoint_written_before_encoders_were_named_is_a_resnet_with_its_own_background(tmp_path):
    model = AFBURR(named_config("tiny"))
    older = ("encoder", "background", "skip_blocks")
    stored = {k: v for k, v in named_config("tiny").to_dict().items() if k not in older}
    path = save_checkpoint({"model": model.state_dict(), "maskprop": {"model": stored}}, tmp_path / "older.pth")
    assert load_model(path).config == named_config("tiny")


def test_an_unknown_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="encoder must be one of resnet, lite0"):
        ModelConfig("x", encoder="vit")
    with pytest.raises(ValueError, match="background must be one of explicit, implicit"):
        ModelConfig("x", background="none")
    with pytest.raises(ValueError, match="skip_blocks must be true or false"):
        ModelConfig("x", skip_blocks="no")  # type: ignore[arg-type]


def test_the_lite_network_has_its_trunks_features_at_each_stride():
    model = AFBURR(named_config("lite0"))
    with torch.inference_mode():
        query = model.encode_query(torch.rand(1, 3, 64, 96))
    channels = named_config("lite0").feature_channels
    assert [tuple(x.shape[1:]) for x in (query.r1, query.r2, query.r3)] == [
        (channels[0], 32, 48),
        (channels[1], 16, 24),
        (channels[2], 8, 12),
    ]
    assert query.grid == (4, 6)
