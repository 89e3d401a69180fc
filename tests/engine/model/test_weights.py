"""Checkpoints: the reference's layout loads strictly; anything that does not fit fails naming the keys."""

from __future__ import annotations

import io
import os
import pickle
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from engine.checkpoint_choice import DEFAULT_NETWORK, ENV_VAR, resolve_checkpoint
from engine.errors import CheckpointError, CheckpointNotFound
from engine.model import AFBURR
from engine.model.config import REFERENCE
from engine.model.weights import (
    load_weights,
    read_checkpoint,
    read_metadata,
    read_state_dict,
    save_weights,
)


@pytest.fixture(scope="module")
def reference_checkpoint(parity_model, tmp_path_factory):
    """A checkpoint written the way the reference's train.py writes one, holding the parity weights."""
    path = tmp_path_factory.mktemp("ckpt") / "final.pth"
    optimizer = torch.optim.AdamW(parity_model.parameters(), lr=4e-6)
    torch.save(
        {
            "epoch": 12,
            "model": parity_model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "loss": 0.25,
            "seed": 1234,
        },
        path,
    )
    return path


def _fresh() -> AFBURR:
    return AFBURR()


def _assert_same_weights(model: torch.nn.Module, other: torch.nn.Module) -> None:
    theirs = other.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, theirs[key]), key


def test_reference_checkpoint_loads_strictly(parity_model, reference_checkpoint):
    model = load_weights(_fresh(), reference_checkpoint, map_location="cpu")
    _assert_same_weights(model, parity_model)


def _as_if_saved_from_cuda(path, out):
    """Rewrite a checkpoint's storage locations to cuda:0, as a file saved from a GPU model records them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            target.writestr(info, data)
    out.write_bytes(buffer.getvalue())
    return out


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows the CPU mapping of a CUDA checkpoint")
def test_checkpoint_saved_from_cuda_loads_on_the_cpu(parity_model, reference_checkpoint, tmp_path):
    path = _as_if_saved_from_cuda(reference_checkpoint, tmp_path / "cuda.pth")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)  # what a load without map_location does on a CPU host
    _assert_same_weights(load_weights(_fresh(), path, map_location="cpu"), parity_model)


def test_bare_state_dict_loads(parity_model, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(parity_model.state_dict(), path)
    _assert_same_weights(load_weights(_fresh(), path), parity_model)


def test_our_checkpoint_round_trips_with_metadata(parity_model, tmp_path):
    path = save_weights(parity_model, tmp_path / "sub" / "ours.pth", provenance={"source": "parity"})
    _assert_same_weights(load_weights(_fresh(), path), parity_model)
    assert read_metadata(path) == {"model": REFERENCE.to_dict(), "provenance": {"source": "parity"}}
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert {"epoch", "model", "loss", "seed"} <= checkpoint.keys()  # what the reference's eval.py reads
    assert [p.name for p in path.parent.iterdir()] == ["ours.pth"]  # no temporary left behind


def test_truncated_checkpoint_is_a_clear_error(reference_checkpoint, tmp_path):
    path = tmp_path / "truncated.pth"
    path.write_bytes(reference_checkpoint.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_weights(_fresh(), path)


def test_file_of_other_content_is_a_clear_error(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="neither a state dict"):
        read_state_dict(path)


class Payload:
    """What an attacker pickles into a checkpoint: unpickling it calls `function(*args)`."""

    def __init__(self, function: Callable[..., object], *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


class Plain:
    """An ordinary object: unpickling it imports its class, which a weights file never needs."""


def _touch_with_a_shell(marker: Path) -> Payload:
    return Payload(os.system, f"\"{sys.executable}\" -c \"open(r'{marker}', 'w').close()\"")


def _touch_with_exec(marker: Path) -> Payload:
    return Payload(exec, f"open(r'{marker}', 'w').close()")


def _an_object(marker: Path) -> Plain:
    return Plain()


def assert_refused_in_plain_words(message: str, path: Path) -> None:
    """Our words only: what the file is, that it is refused and what to use instead, never torch's advice to
    load it unsafely."""
    assert str(path) in message and "\n" not in message
    assert "not a plain weights file" in message and "would run code" in message and "refuses" in message
    assert "torch.save(model.state_dict()" in message and "maskprop publish" in message
    assert "weights_only" not in message and "likely succeed" not in message


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("payload", [_touch_with_a_shell, _touch_with_exec, _an_object])
def test_a_checkpoint_holding_python_objects_is_refused_without_running_them(tmp_path, payload, legacy):
    pickle.loads(pickle.dumps(payload(tmp_path / "live")))
    assert (tmp_path / "live").exists() or payload is _an_object  # the payload does run when unpickled unsafely
    path, marker = tmp_path / "bad.pth", tmp_path / "ran"
    torch.save({"model": payload(marker)}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointError) as refused:
        read_state_dict(path)
    assert_refused_in_plain_words(str(refused.value), path)
    assert not marker.exists()


def test_a_pickle_the_safe_reader_cannot_parse_is_unreadable_without_torchs_advice(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(b"\x80\x02" + b"\xff" * 64)  # a protocol 2 pickle of an opcode that does not exist
    with pytest.raises(CheckpointError) as refused:
        read_state_dict(path)
    message = str(refused.value)
    assert "cannot be read" in message and "\n" not in message
    assert "weights_only" not in message and "likely succeed" not in message


def _write_modified(parity_model, path, change):
    state = dict(parity_model.state_dict())
    change(state)
    torch.save({"epoch": 0, "model": state, "loss": 0.0, "seed": 0}, path)
    return path


def test_missing_key_is_named(parity_model, tmp_path):
    path = _write_modified(parity_model, tmp_path / "m.pth", lambda s: s.pop("decoder.pred2.bias"))
    with pytest.raises(CheckpointError, match=r"1 missing: decoder\.pred2\.bias"):
        load_weights(_fresh(), path)


def test_unexpected_key_is_named(parity_model, tmp_path):
    def add(state):
        state["module.extra.weight"] = torch.zeros(3)

    with pytest.raises(CheckpointError, match=r"1 unexpected: module\.extra\.weight"):
        load_weights(_fresh(), _write_modified(parity_model, tmp_path / "u.pth", add))


def test_misshaped_key_is_named(parity_model, tmp_path):
    def reshape(state):
        state["keyval_r4.Key.bias"] = torch.zeros(64)

    with pytest.raises(CheckpointError, match=r"mis-shaped: keyval_r4\.Key\.bias \(64,\) \(expected \(128,\)\)"):
        load_weights(_fresh(), _write_modified(parity_model, tmp_path / "s.pth", reshape))


def test_all_three_problems_are_listed_together(parity_model, tmp_path):
    def break_all(state):
        state.pop("encoder_q.bn1.weight")
        state["extra"] = torch.zeros(1)
        state["decoder.pred2.weight"] = torch.zeros(3, 256, 3, 3)

    with pytest.raises(CheckpointError) as info:
        load_weights(_fresh(), _write_modified(parity_model, tmp_path / "all.pth", break_all))
    message = str(info.value)
    assert "encoder_q.bn1.weight" in message and "extra" in message and "decoder.pred2.weight" in message


def test_resolution_order(tmp_path):
    flag, env, configured = (tmp_path / name for name in ("flag.pth", "env.pth", "config.pth"))
    for path in (flag, env, configured):
        path.write_bytes(b"")
    config = tmp_path / "config.toml"
    config.write_text(f'checkpoint = "{configured}"\n')
    environ = {ENV_VAR: str(env)}
    assert resolve_checkpoint(flag, environ, config) == flag
    assert resolve_checkpoint(None, environ, config) == env
    assert resolve_checkpoint(None, {}, config) == configured


def test_without_a_checkpoint_the_shipped_network_is_used(tmp_path):
    shipped = tmp_path / "shipped.pth"
    shipped.write_bytes(b"")
    assert resolve_checkpoint(None, {}, tmp_path / "absent.toml", default=shipped) == shipped
    assert resolve_checkpoint(None, {}, tmp_path / "absent.toml") == DEFAULT_NETWORK


def test_shipped_network_that_is_missing_says_how_to_reinstall_or_get_one(tmp_path):
    with pytest.raises(CheckpointNotFound) as info:
        resolve_checkpoint(None, {}, tmp_path / "absent.toml", default=tmp_path / "deleted.pth")
    message = str(info.value)
    assert "deleted.pth" in message and "reinstall" in message
    assert "huggingface.co/xmlyqing00/AFB-URR" in message
    assert "NeurIPS20_level1_DAVIS17.pth" in message
    assert ENV_VAR in message and "--checkpoint" in message


def test_named_checkpoint_that_does_not_exist_is_reported_with_its_source(tmp_path):
    with pytest.raises(CheckpointNotFound, match=ENV_VAR):
        resolve_checkpoint(None, {ENV_VAR: str(tmp_path / "nope.pth")}, tmp_path / "absent.toml")


def test_a_text_file_given_as_a_checkpoint_is_one_clear_line(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("101 reasons this is not a checkpoint\nsecond line\n")
    with pytest.raises(CheckpointError, match=r"notes\.pth cannot be read \(truncated, corrupted, or not a PyTorch"):
        read_checkpoint(path)
