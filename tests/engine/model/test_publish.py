"""Publishing: a training checkpoint becomes a small fp16 network that loads as fp32 and knows its size."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from engine import checkpoint_choice
from engine.checkpoint_choice import DEFAULT_NETWORK, ENV_VAR
from engine.errors import CheckpointError, CheckpointNotFound
from engine.evaluation.confidence_rank import ScoredFrame, write_pairs
from engine.model import AFBURR
from engine.model.afburr import REFERENCE_MAX_SIZE
from engine.model.calibration import ConfidenceCalibration
from engine.model.config import named_config
from engine.model.loader import load_network
from engine.model.publish import publish
from engine.model.weights import load_model, read_checkpoint, save_weights


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint as `engine train` writes one (weights, configuration, provenance, optimiser state)."""
    torch.manual_seed(0)
    model = AFBURR(named_config("tiny"))
    path = tmp_path_factory.mktemp("run") / "last.pth"
    save_weights(model, path, {"trained_by": "python -m engine train", "steps": 7})
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["optimizer"] = {"state": {}, "param_groups": []}
    torch.save(checkpoint, path)
    return model, path


def test_published_network_is_fp16_on_disk_and_loads_as_fp32_with_its_size(trained, tmp_path):
    model, source = trained
    out = publish(source, tmp_path / "net.pth", max_size=240, memory_every=3, note="a test")
    stored = read_checkpoint(out)
    assert "optimizer" not in stored
    assert {v.dtype for v in stored["model"].values() if v.is_floating_point()} == {torch.float16}
    assert stored["maskprop"]["provenance"] == {
        "trained_by": "python -m engine train",
        "steps": 7,
        "published_from": "last.pth",
        "note": "a test",
    }
    loaded = load_model(out)
    assert (loaded.config, loaded.default_max_size, loaded.default_memory_every) == (model.config, 240, 3)
    for (key, ours), theirs in zip(loaded.state_dict().items(), model.state_dict().values(), strict=True):
        assert ours.dtype == theirs.dtype, key
        assert torch.equal(ours, theirs.half().to(theirs.dtype) if theirs.is_floating_point() else theirs), key
    assert out.stat().st_size < source.stat().st_size * 0.6


def test_a_checkpoint_that_does_not_say_its_size_runs_at_the_references(trained):
    assert load_model(trained[1]).default_max_size == REFERENCE_MAX_SIZE
    assert load_model(trained[1]).default_memory_every == 1  # every frame, as the reference loop


def test_a_published_file_from_before_memory_intervals_memorises_every_frame(trained, tmp_path):
    checkpoint = torch.load(publish(trained[1], tmp_path / "net.pth", 240, memory_every=4), weights_only=True)
    del checkpoint["maskprop"]["inference"]["memory_every"]
    torch.save(checkpoint, tmp_path / "older.pth")
    assert load_model(tmp_path / "older.pth").default_memory_every == 1


BAD_STORED = [("memory_every", value, "memory interval") for value in (0, -2, 1.5, "often", False, None)]
BAD_STORED += [("max_size", value, "inference size") for value in (-1, 2.5, "big", True, [240])]
BAD_STORED += [
    ("confidence_calibration", value, "stores a confidence calibration that cannot be used")
    for value in ({"raw": [0.0, 1.0]}, {"raw": [0.0, 0.5, 1.0], "estimate": [0.0, 0.9, 0.8]}, "0.5")
]


@pytest.mark.parametrize(("key", "stored", "message"), BAD_STORED)
def test_a_stored_inference_setting_out_of_its_range_is_refused(trained, tmp_path, key, stored, message):
    checkpoint = torch.load(publish(trained[1], tmp_path / "net.pth", 240), weights_only=True)
    checkpoint["maskprop"]["inference"][key] = stored
    torch.save(checkpoint, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path / "bad.pth")


def test_a_calibrated_network_loads_with_its_calibration(trained, tmp_path):
    calibration = ConfidenceCalibration((0.0, 0.7, 1.0), (0.0, 0.4, 1.0))
    published = publish(trained[1], tmp_path / "net.pth", 240, calibration=calibration)
    assert load_model(published).confidence_calibration == calibration
    assert load_model(publish(trained[1], tmp_path / "raw.pth", 240)).confidence_calibration is None


def test_publish_command_fits_the_calibration_to_the_pairs_eval_wrote(trained, tmp_path, engine_env):
    raw = np.linspace(0.6, 0.85, 200)
    scored = [ScoredFrame("shot", f"{i:05d}", 1, c, (c - 0.6) * 4) for i, c in enumerate(raw)]
    write_pairs(tmp_path / "confidence-j.csv", scored)
    done = subprocess.run(
        [sys.executable, "-m", "engine", "publish", str(trained[1]), str(tmp_path / "net.pth"), "--max-size", "240",
         "--calibrate", str(tmp_path / "confidence-j.csv")],
        capture_output=True, text=True, env=engine_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "confidence calibrated on 200 object-frames" in done.stderr
    calibration = load_model(tmp_path / "net.pth").confidence_calibration
    assert calibration is not None
    assert calibration(np.array([0.65, 0.8])) == pytest.approx([0.2, 0.8], abs=0.03)


def test_weights_fp16_cannot_hold_are_refused(trained, tmp_path):
    checkpoint = torch.load(trained[1], weights_only=True)
    key = next(k for k, v in checkpoint["model"].items() if v.is_floating_point())
    checkpoint["model"][key] = checkpoint["model"][key] + 1e6
    torch.save(checkpoint, tmp_path / "huge.pth")
    with pytest.raises(CheckpointError, match=key):
        publish(tmp_path / "huge.pth", tmp_path / "net.pth", 240)
    assert not (tmp_path / "net.pth").exists()


def test_a_checkpoint_that_does_not_fit_its_configuration_is_refused(trained, tmp_path):
    checkpoint = torch.load(trained[1], weights_only=True)
    del checkpoint["model"]["decoder.pred2.weight"]
    torch.save(checkpoint, tmp_path / "short.pth")
    with pytest.raises(CheckpointError, match=r"missing: decoder\.pred2\.weight"):
        publish(tmp_path / "short.pth", tmp_path / "net.pth", 240)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["{bad}", "{out}", "--max-size", "240"], "cannot be read"),
        (["{absent}", "{out}", "--max-size", "240"], "does not exist"),
        (["{source}", "{out}", "--max-size", "-5"], "is not a whole number, 0 or more"),
        (["{source}", "{out}"], "--max-size"),
        (["{source}", "{out}", "--max-size", "240", "--memory-every", "0"], "is not a whole number above 0"),
        (["{source}", "{out}", "--max-size", "240", "--calibrate", "{absent}"], "absent.pth: cannot be read"),
        (["{source}", "{out}", "--max-size", "240", "--calibrate", "{bad}"], "not a table of confidence and J"),
        (["{source}", "{out}", "--max-size", "240", "--calibrate", "{few}"], "too few to calibrate on"),
        (["{source}", "{out}", "--max-size", "240", "--calibrate", "{words}"], "not a table of confidence and J"),
        (["{source}", "{out}", "--max-size", "240", "--calibrate", "{short}"], "not a table of confidence and J"),
        (["{source}", "{out}", "--max-size", "240", "--calibrate", "{unnamed}"], "must name the columns confidence"),
    ],
)
def test_publish_command_refuses_bad_input_with_one_line(trained, tmp_path, engine_env, arguments, message):
    (tmp_path / "bad.pth").write_bytes(b"PK\x03\x04 not really a checkpoint")
    (tmp_path / "few.csv").write_text("confidence,j\n0.5,0.5\n0.7,0.9\n")
    (tmp_path / "words.csv").write_text("confidence,j\n0.5,high\n")
    (tmp_path / "short.csv").write_text("sequence,frame,object,confidence,j\nshot,00001,1,0.5\n")
    (tmp_path / "unnamed.csv").write_text("0.5,0.5\n0.7,0.9\n0.8,0.9\n")
    paths = {"bad": tmp_path / "bad.pth", "absent": tmp_path / "absent.pth", "source": trained[1]}
    paths |= {name: tmp_path / f"{name}.csv" for name in ("few", "words", "short", "unnamed")}
    filled = [a.format(**paths, out=tmp_path / "net.pth") for a in arguments]
    done = subprocess.run(
        [sys.executable, "-m", "engine", "publish", *filled], capture_output=True, text=True, env=engine_env
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "net.pth").exists()


def test_the_shipped_network_is_a_published_lite_network():
    shipped = load_model(DEFAULT_NETWORK)
    assert shipped.config.encoder.startswith("lite")
    assert 0 < shipped.default_max_size <= REFERENCE_MAX_SIZE
    assert shipped.default_memory_every >= 1
    assert DEFAULT_NETWORK.stat().st_size < 20 * 2**20


DAMAGED = "shipped with the engine is damaged"


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda path: path.write_bytes(b"PK\x03\x04" + b"\0" * 64), CheckpointError, DAMAGED),
        (lambda path: path.write_bytes(b""), CheckpointError, DAMAGED),
        (lambda path: None, CheckpointNotFound, "is missing"),
    ],
    ids=["corrupt", "empty", "deleted"],
)
def test_a_damaged_shipped_network_says_to_reinstall(monkeypatch, tmp_path, damage, error, message):
    shipped = tmp_path / "maskprop-lite0.pth"
    damage(shipped)
    monkeypatch.setattr(checkpoint_choice, "DEFAULT_NETWORK", shipped)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    with pytest.raises(error, match=message) as caught:
        load_network(None, "cpu")
    assert "reinstall maskprop" in str(caught.value)
