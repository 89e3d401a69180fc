"""Training on the CPU: it learns, it resumes to the bit, and its pieces do what the reference's do."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.io import InputError
from engine.learning.forward import ClipTensors, clip_loss
from engine.learning.objective import segmentation_loss
from engine.model import AFBURR, ReadOptions
from engine.model.config import named_config
from engine.model.weights import load_model
from engine.train.checkpoints import last_checkpoint, read_training
from engine.train.dataset import ClipDataset, HideAndSeek
from engine.train.log import CsvLog, read_log
from engine.train.options import DataSpec, TrainOptions
from engine.train.procedural import ProceduralClips
from engine.train.trainer import resume_options, train
from tests.engine.train.test_sources import write_davis, write_static


def _options(out: Path, **changes: object) -> TrainOptions:
    """A tiny network on small procedural clips: seconds per hundred steps on a CPU."""
    base = TrainOptions(
        out=out,
        model="tiny",
        steps=6,
        clips_per_step=2,
        frames=3,
        size=(48, 48),
        lr=1e-3,
        save_every=100,
        val_every=100,
        val_clips=4,
        log_every=100,
        device="cpu",
    )
    return replace(base, **changes)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).state_dict()


@pytest.mark.slow
def test_a_minute_of_cpu_training_halves_the_validation_loss(tmp_path, quiet):
    torch.set_num_threads(1)
    options = _options(tmp_path / "run", steps=220, size=(64, 64), frames=4, val_every=220, val_clips=12)
    result = train(options, stream=quiet)
    first, last = result.validation[0], result.validation[-1]
    assert (first["step"], last["step"]) == (0, 220)
    assert last["val_loss"] <= first["val_loss"] / 2, (first, last)
    rows = read_log(tmp_path / "run" / "loss.csv")
    assert [int(row["step"]) for row in rows] == list(range(1, 221))


def test_stopping_and_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path, quiet):
    torch.set_num_threads(1)
    straight = train(_options(tmp_path / "straight", save_every=3), stream=quiet)
    calls = iter(range(100))
    stopped = train(_options(tmp_path / "resumed", save_every=100), should_stop=lambda: next(calls) == 2, stream=quiet)
    assert stopped.step == 3  # asked after every step; the third said stop, and the run saved there
    assert [row["step"] for row in stopped.validation] == [0]  # saved at once, without validating first
    resumed = train(resume_options(tmp_path / "resumed"), resume=True, stream=quiet)
    assert resumed.step == straight.step == 6
    ours, theirs = _weights(resumed.checkpoint), _weights(straight.checkpoint)
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
    optimiser = read_training(resumed.checkpoint)["optimizer"]["state"]
    expected = read_training(straight.checkpoint)["optimizer"]["state"]
    assert all(torch.equal(optimiser[k]["exp_avg"], expected[k]["exp_avg"]) for k in expected)
    assert _losses(tmp_path / "resumed") == _losses(tmp_path / "straight")


def _losses(run: Path) -> list[dict[str, str]]:
    """The loss log without its timings."""
    return [{k: v for k, v in row.items() if k != "clips_per_second"} for row in read_log(run / "loss.csv")]


def test_dataloader_workers_do_not_change_what_is_learnt(tmp_path, quiet):
    torch.set_num_threads(1)
    alone = train(_options(tmp_path / "alone", steps=2), stream=quiet)
    helped = train(_options(tmp_path / "helped", steps=2, workers=2), stream=quiet)
    ours, theirs = _weights(helped.checkpoint), _weights(alone.checkpoint)
    assert all(torch.equal(ours[key], value) for key, value in theirs.items())


def test_checkpoints_keep_the_newest_step_files_and_load_for_inference(tmp_path, quiet):
    result = train(_options(tmp_path / "run", steps=5, save_every=1, keep=2), stream=quiet)
    folder = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.pth", "step_0000004.pth", "step_0000005.pth"]
    model = load_model(result.checkpoint)
    assert model.config == named_config("tiny")
    training = read_training(last_checkpoint(tmp_path / "run"))["training"]
    assert training["step"] == 5 and training["options"]["model"] == "tiny"


def test_fine_tuning_starts_from_the_given_checkpoint_and_keeps_its_configuration(tmp_path, quiet):
    first = train(_options(tmp_path / "base", steps=1), stream=quiet)
    tuned = train(_options(tmp_path / "tuned", steps=1, init=first.checkpoint, model="small"), stream=quiet)
    assert load_model(tuned.checkpoint).config.name == "tiny"


def test_fine_tuning_can_leave_the_background_implicit_and_starts_from_the_same_weights(tmp_path, quiet):
    first = train(_options(tmp_path / "base", steps=1), stream=quiet)
    implicit = _options(tmp_path / "tuned", steps=1, init=first.checkpoint, background="implicit", lr=1e-12)
    tuned = train(implicit, stream=quiet)
    assert load_model(tuned.checkpoint).config == replace(named_config("tiny"), background="implicit")
    ours, theirs = _weights(tuned.checkpoint), _weights(first.checkpoint)
    assert all(torch.allclose(ours[key], value, atol=1e-6) for key, value in theirs.items())
    resumed = train(resume_options(tmp_path / "tuned", steps=2), resume=True, stream=quiet)
    assert load_model(resumed.checkpoint).config.background == "implicit"


def test_an_unknown_background_is_refused():
    with pytest.raises(ValueError, match="--background must be one of explicit, implicit"):
        _options(Path("run"), background="transparent")


def test_fine_tuning_can_drop_the_skip_blocks_and_keeps_every_other_weight(tmp_path, quiet):
    first = train(_options(tmp_path / "base", steps=1), stream=quiet)
    light = _options(tmp_path / "tuned", steps=1, init=first.checkpoint, skip_blocks=False, lr=1e-12)
    tuned = load_model(train(light, stream=quiet).checkpoint)
    assert tuned.config == replace(named_config("tiny"), skip_blocks=False)
    ours, theirs = tuned.state_dict(), _weights(first.checkpoint)
    assert set(theirs) - set(ours) == {key for key in theirs if ".ResFS." in key} != set()
    assert all(torch.allclose(value, theirs[key], atol=1e-6) for key, value in ours.items())
    with pytest.raises(ValueError, match="has no skip blocks to keep"):
        train(
            _options(tmp_path / "back", steps=1, init=tmp_path / "tuned" / "checkpoints" / "last.pth", skip_blocks=True)
        )


def test_a_network_trained_from_the_start_takes_the_configuration_asked_for(tmp_path, quiet):
    result = train(_options(tmp_path / "run", steps=1, skip_blocks=False, background="implicit"), stream=quiet)
    assert load_model(result.checkpoint).config == replace(
        named_config("tiny"), skip_blocks=False, background="implicit"
    )


def test_learning_the_decoder_alone_leaves_the_rest_as_it_was(tmp_path, quiet):
    first = train(_options(tmp_path / "base", steps=1), stream=quiet)
    tuned = train(_options(tmp_path / "tuned", steps=3, init=first.checkpoint, learn="decoder"), stream=quiet)
    ours, theirs = _weights(tuned.checkpoint), _weights(first.checkpoint)
    changed = {key for key, value in theirs.items() if not torch.equal(ours[key], value)}
    assert changed and all(key.startswith("decoder.") for key in changed)
    resumed = train(resume_options(tmp_path / "tuned", steps=4), resume=True, stream=quiet)
    again = _weights(resumed.checkpoint)
    assert all(torch.equal(again[key], value) for key, value in theirs.items() if not key.startswith("decoder."))


def test_an_unknown_part_to_learn_is_refused():
    with pytest.raises(ValueError, match="--learn must be one of all, decoder, decoder"):
        _options(Path("run"), learn="encoder")


@pytest.mark.parametrize("recurrent, reader", [(False, "global"), (True, "global"), (False, "skn"), (True, "kmn")])
def test_every_mode_and_reader_trains(tmp_path, quiet, recurrent, reader):
    result = train(_options(tmp_path / "run", steps=1, recurrent=recurrent, reader=reader), stream=quiet)
    assert all(math.isfinite(row["val_loss"]) for row in result.validation)


def test_reference_mode_segments_later_frames_against_frame_zero_only(parity_checkpoint):
    """Changing frame 1 must not change frame 2's loss in reference mode, and must in the recurrent one.

    The parity weights, because an untrained network answers "undecided" whatever its memory holds.
    """
    model = load_model(parity_checkpoint).train()
    clip = _clip(frames=3)
    changed = ClipTensors(clip.frames.clone(), clip.labels, None)
    changed.frames[1] = torch.rand_like(changed.frames[1])
    with torch.no_grad():
        for recurrent, same in ((False, True), (True, False)):
            losses = [_frame_two_loss(model, c, recurrent) for c in (clip, changed)]
            assert torch.allclose(*losses, atol=1e-5) is same, losses


def _frame_two_loss(model: AFBURR, clip: ClipTensors, recurrent: bool) -> torch.Tensor:
    both = clip_loss(model, clip, ReadOptions(), recurrent).total  # the mean of frames 1 and 2
    first = clip_loss(model, ClipTensors(clip.frames[:2], clip.labels[:2], None), ReadOptions(), recurrent).total
    return 2 * both - first


def _clip(frames: int) -> ClipTensors:
    dataset = ClipDataset(ProceduralClips(frames, (48, 48), 2), 1, seed=3)
    return dataset[0]


def test_the_loss_is_cross_entropy_plus_half_the_rms_of_the_uncertainty():
    target = torch.zeros(1, 4, 4, dtype=torch.int64)
    target[0, :2] = 1
    confident = torch.where(torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).bool(), 12.0, -12.0)
    sure = segmentation_loss(confident, target)
    assert sure.cross_entropy < 1e-4 and sure.uncertainty < 0.3
    undecided = segmentation_loss(torch.zeros(1, 2, 4, 4), target)
    assert undecided.cross_entropy == pytest.approx(math.log(2))
    assert undecided.uncertainty == pytest.approx(1.0)  # two objects tie everywhere: exp(1 - 1) = 1
    assert undecided.total == pytest.approx(math.log(2) + 0.5)


def test_a_clip_is_a_function_of_the_seed_and_its_index_alone():
    dataset = ClipDataset(ProceduralClips(3, (48, 48), 2), 10, seed=5, hiding=HideAndSeek(0.5, 4))
    later, again = dataset[7], dataset[7]
    assert torch.equal(later.frames, again.frames) and torch.equal(later.labels, again.labels)
    assert not torch.equal(dataset[6].labels, later.labels)


def test_hide_and_seek_ramps_from_nothing_to_its_top():
    hiding = HideAndSeek(top=0.5, ramp_steps=100)
    assert [hiding.probability(s) for s in (0, 50, 100, 1000)] == [0.0, 0.25, 0.5, 0.5]
    assert HideAndSeek(ramp_steps=0).probability(10) == 0.0


def test_a_resumed_log_drops_the_rows_after_the_checkpoint(tmp_path):
    log = CsvLog(tmp_path / "loss.csv", ("step", "loss"))
    for step in range(1, 6):
        log.write({"step": step, "loss": step / 10})
    CsvLog(tmp_path / "loss.csv", ("step", "loss"), resume_after=3)
    assert [row["step"] for row in read_log(tmp_path / "loss.csv")] == ["1", "2", "3"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("procedural", DataSpec("procedural")),
        ("/data/davis@3", DataSpec("/data/davis", 3.0)),
        ("a@b@0.5", DataSpec("a@b", 0.5)),
    ],
)
def test_data_specs_parse(text, expected):
    assert DataSpec.parse(text) == expected


@pytest.mark.parametrize("text", ["", "@2", "x@0", "x@-1", "x@many"])
def test_bad_data_specs_are_refused(text):
    with pytest.raises(ValueError, match="data"):
        DataSpec.parse(text)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"size": (50, 64)}, "multiple of 16"),
        ({"frames": 1}, "at least 2"),
        ({"steps": 0}, "--steps"),
        ({"data": ()}, "--data"),
        ({"hide_top": 2.0}, "--hide-top"),
        ({"lr": 0.0}, "--lr"),
        ({"precision": "fp16"}, "bf16"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        _options(tmp_path, **changes)


def test_options_round_trip_through_the_checkpoint_form(tmp_path):
    options = _options(tmp_path, data=(DataSpec("procedural", 2.0), DataSpec(str(tmp_path), 1.0)), init=tmp_path / "x")
    assert TrainOptions.from_dict(options.to_dict()) == options


def test_a_folder_of_neither_layout_is_a_clear_error(tmp_path, quiet):
    options = _options(tmp_path / "run", data=(DataSpec(str(tmp_path)),))
    with pytest.raises(ValueError, match="JPEGImages"):
        train(options, stream=quiet)


def test_resuming_a_folder_without_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"last\.pth"):
        resume_options(tmp_path)


@pytest.fixture
def quiet(tmp_path):
    with (tmp_path / "progress.txt").open("w") as stream:
        yield stream


def test_videos_stills_and_procedural_clips_train_together(tmp_path, quiet):
    data = (DataSpec("procedural"), DataSpec(str(write_davis(tmp_path / "videos")), 2.0))
    data += (DataSpec(str(write_static(tmp_path / "stills"))),)
    result = train(_options(tmp_path / "run", steps=3, data=data, max_skip=2, hide_ramp=2), stream=quiet)
    assert result.step == 3
    assert [float(row["hide_probability"]) for row in read_log(tmp_path / "run" / "loss.csv")] == [0.0, 0.25, 0.5]
