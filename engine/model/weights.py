"""AFB-URR checkpoints: reading the published ones, writing ours, and finding which one to use.

The published checkpoints are `torch.save({'epoch', 'model', 'optimizer', 'loss', 'seed'})` dicts saved from
CUDA (some tools keep only the bare state dict). They are read with `weights_only=True`, so a checkpoint can
never run code, and mapped onto the requested device. The load is strict: a checkpoint that does not fit
the network is an error naming every missing, unexpected and mis-shaped key, never a partial load.

Ours are written in the same layout, with a `maskprop` entry (model configuration, provenance) added, so
the reference's own scripts still read them (the reference configuration's, at least). `load_model` builds
the network a checkpoint was trained as: its stored configuration, or the reference one when it has none.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import CheckpointError
from engine.io.atomic import write_bytes_atomic
from engine.model.afburr import AFBURR, REFERENCE_MAX_SIZE
from engine.model.calibration import ConfidenceCalibration
from engine.model.config import REFERENCE, ModelConfig

_MAX_LISTED = 20
# What torch's safe reader says when a file asks it to import a name or build an object it does not allow.
_HOLDS_OBJECTS = re.compile(r"\bGLOBAL\b|unrecognized function|new object|Can only build", re.IGNORECASE)

log = logging.getLogger(__name__)


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """Whatever the checkpoint file holds, read safely (`weights_only=True`: tensors and plain values only)."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except pickle.UnpicklingError as exc:
        raise CheckpointError(_refusal(path, str(exc))) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as exc:
        # KeyError: torch's reader on a text file. The reason goes on one line, as every error line does.
        reason = " ".join(str(exc).split())
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated, corrupted, or not a PyTorch file?): {reason}"
        ) from exc


def _refusal(path: str | os.PathLike[str], reason: str) -> str:
    """Why the safe reader turned `path` down, in our words only.

    torch's own message advises loading the file again without the safe reader, which runs whatever code the
    file carries, so none of it is passed on. `reason` (torch's text) only tells a file that holds Python
    objects from one that is damaged.
    """
    if _HOLDS_OBJECTS.search(reason):
        return (
            f"checkpoint {path} is not a plain weights file: it holds Python objects that would run code when "
            "loaded, so the engine refuses to load it; use a checkpoint that holds only tensors (one written by "
            "`maskprop train` or `maskprop publish`, or re-save it on a trusted machine with "
            "torch.save(model.state_dict(), PATH))"
        )
    return (
        f"checkpoint {path} cannot be read (truncated, corrupted, or not a PyTorch file?): it is not a plain "
        "weights file the engine can read safely"
    )


def read_state_dict(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state dict inside a checkpoint file: `checkpoint['model']`, or the file itself if it is bare."""
    return state_dict_of(read_checkpoint(path, map_location), path)


def stored_entry(checkpoint: Any, key: str) -> Any:
    """`key` of the `maskprop` entry we add to checkpoints (None where the checkpoint has no such entry)."""
    entry = checkpoint.get("maskprop") if isinstance(checkpoint, Mapping) else None
    return entry.get(key) if isinstance(entry, Mapping) else None


def model_config_of(checkpoint: Any, path: str | os.PathLike[str]) -> ModelConfig:
    """The configuration a checkpoint was trained as; the reference one for checkpoints that do not say."""
    stored = stored_entry(checkpoint, "model")
    if stored is None:
        return REFERENCE
    try:
        return ModelConfig.from_dict(stored)
    except (TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path} stores a model configuration that cannot be used: {exc}") from None


def load_model(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> AFBURR:
    """The network `path` holds, built in its own configuration and loaded strictly, in eval mode."""
    checkpoint = read_checkpoint(path, map_location)
    config = model_config_of(checkpoint, path)
    model = _load_into(AFBURR(config), state_dict_of(checkpoint, path), path)
    model.default_max_size = inference_max_size(checkpoint, path)
    model.default_memory_every = inference_memory_every(checkpoint, path)
    model.confidence_calibration = inference_calibration(checkpoint, path)
    return model


def inference_max_size(checkpoint: Any, path: str | os.PathLike[str]) -> int:
    """The internal size (shorter side) a checkpoint is best run at: the scale it was trained at, which
    `engine publish` stores; the reference's 480 for checkpoints that do not say."""
    return _inference_setting(checkpoint, path, "max_size", REFERENCE_MAX_SIZE, 0, "an inference size")


def inference_memory_every(checkpoint: Any, path: str | os.PathLike[str]) -> int:
    """Every how many frames a checkpoint's network is best given a frame to memorise, which `engine publish`
    stores; 1 (every frame, the reference's loop) for checkpoints that do not say."""
    return _inference_setting(checkpoint, path, "memory_every", 1, 1, "a memory interval")


def inference_calibration(checkpoint: Any, path: str | os.PathLike[str]) -> ConfidenceCalibration | None:
    """How a checkpoint's network turns its raw confidence into an estimate of J, which `engine publish
    --calibrate` stores; None (confidence reported raw) for checkpoints that do not say."""
    inference = stored_entry(checkpoint, "inference")
    stored = inference.get("confidence_calibration") if isinstance(inference, Mapping) else None
    if stored is None:
        return None
    try:
        return ConfidenceCalibration.from_dict(stored)
    except ValueError as error:
        raise CheckpointError(
            f"checkpoint {path} stores a confidence calibration that cannot be used: {error}"
        ) from None


def _inference_setting(
    checkpoint: Any, path: str | os.PathLike[str], key: str, default: int, least: int, what: str
) -> int:
    inference = stored_entry(checkpoint, "inference")
    if inference is None:
        return default
    value = inference.get(key, default) if isinstance(inference, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise CheckpointError(f"checkpoint {path} stores {what} that is not a whole number from {least}: {value!r}")
    return value


def state_dict_of(checkpoint: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping):
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(f"checkpoint {path} holds neither a state dict nor a dict with one under 'model'")
    return dict(checkpoint)


def check_fits(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise `CheckpointError` naming every key that is missing, unexpected or of the wrong shape."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    misshaped = [
        f"{key} {tuple(state_dict[key].shape)} (expected {tuple(value.shape)})"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    problems = [
        _listing(label, keys)
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        if keys
    ]
    if problems:
        name = getattr(getattr(model, "config", None), "name", "AFB-URR")
        raise CheckpointError(f"checkpoint does not fit the {name} network: " + "; ".join(problems))


def load_weights(model: nn.Module, path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> nn.Module:
    """Read `path` and load it into `model` strictly; returns the model."""
    return _load_into(model, read_state_dict(path, map_location), path)


def check_file_fits(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """`check_fits`, with the error naming the file the state dict came from."""
    try:
        check_fits(model, state_dict)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def _load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> nn.Module:
    check_file_fits(model, state_dict, path)
    model.load_state_dict(state_dict, strict=True)
    return model


def save_weights(
    model: AFBURR,
    path: str | os.PathLike[str],
    provenance: Mapping[str, Any],
    epoch: int = 0,
    loss: float = 0.0,
    seed: int = 0,
) -> Path:
    """Write `model` in the reference's checkpoint layout plus a `maskprop` entry; atomically (temp + rename)."""
    return save_checkpoint(model_checkpoint(model, provenance, epoch, loss, seed), path)


def model_checkpoint(
    model: AFBURR,
    provenance: Mapping[str, Any],
    epoch: int = 0,
    loss: float = 0.0,
    seed: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`model` as the reference's checkpoint dict plus a `maskprop` entry (configuration and `provenance`).

    `extra` adds top-level entries (a training state). All must hold only plain values and tensors (str, int,
    float, bool, None, lists, dicts) so that the file still loads with `weights_only=True`.
    """
    return {
        **(extra or {}),
        "epoch": epoch,
        "model": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "loss": loss,
        "seed": seed,
        "maskprop": {"model": model.config.to_dict(), "provenance": dict(provenance)},
    }


def checkpoint_bytes(checkpoint: Mapping[str, Any]) -> memoryview:
    """The file contents `torch.save` writes for `checkpoint`."""
    buffer = io.BytesIO()
    torch.save(dict(checkpoint), buffer)
    return buffer.getbuffer()


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """`torch.save` to a temporary file then rename, so a killed writer never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, checkpoint_bytes(checkpoint))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `maskprop` entry of a checkpoint we wrote ({} for the published ones)."""
    checkpoint = read_checkpoint(path)
    return dict(checkpoint.get("maskprop", {})) if isinstance(checkpoint, Mapping) else {}


def _listing(label: str, keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = f" and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
    return f"{len(keys)} {label}: {shown}{more}"
