"""The training loop of `python -m engine train`: the reference's recipe, resumable to the bit.

Each step sums the gradients of `clips_per_step` clips (clips differ in object count, so they are not
batched into one tensor), then takes one AdamW step; the learning rate halves every `lr_step` steps.
Batch norms stay frozen (`AFBURR.train` keeps them in eval mode) while their affine parameters learn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import torch
from torch.utils.data import DataLoader

from engine.compute.device import select_device
from engine.compute.precision import Precision, autocast, lay_out_weights, memory_format, resolve_precision
from engine.learning.adaptation import learn_only
from engine.learning.forward import ClipTensors, clip_loss
from engine.model.afburr import AFBURR
from engine.model.config import ModelConfig, named_config
from engine.model.readout import ReadOptions
from engine.model.weights import load_model
from engine.progress import Progress
from engine.train.checkpoints import last_checkpoint, read_training, restore_generators, save_training
from engine.train.data import build_source
from engine.train.dataset import ClipDataset
from engine.train.imagenet import start_from_imagenet
from engine.train.log import CsvLog
from engine.train.options import TrainOptions
from engine.train.validation import Validation

LOSS_COLUMNS = ("step", "loss", "cross_entropy", "uncertainty", "lr", "hide_probability", "clips_per_second")


@dataclass
class TrainResult:
    step: int  # steps done in total, across restarts
    checkpoint: Path | None  # last.pth after the final save
    validation: list[dict[str, Any]] = field(default_factory=list)  # this process's validation rows


@dataclass
class _State:
    model: AFBURR
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.StepLR
    step: int


def resume_options(run: Path, steps: int | None = None) -> TrainOptions:
    """The options a run was started with, from its last checkpoint; `steps` may extend it."""
    stored = read_training(last_checkpoint(run))["training"]["options"]
    return TrainOptions.from_dict({**stored, "out": str(run), **({"steps": steps} if steps else {})})


def train(
    options: TrainOptions,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    stream: TextIO | None = None,
) -> TrainResult:
    """Train until `options.steps` (or `should_stop()`, checked after every step, which saves and returns)."""
    stream = stream or sys.stderr
    device = select_device(options.device)
    choice = resolve_precision(options.precision, device, options.strict_precision)  # refusals before the data
    print(choice.describe(), file=stream, flush=True)
    precision = choice.precision
    source = build_source(options)
    validation = Validation(options, source, device)
    state = _resume(options, device) if resume else _start(options, device)
    options.out.mkdir(parents=True, exist_ok=True)
    log = CsvLog(options.out / "loss.csv", LOSS_COLUMNS, resume_after=state.step if resume else None)
    validation.open_log(resume_after=state.step if resume else None)
    result = TrainResult(state.step, None)
    clips = _clips(options, source, state.step)
    if state.step == 0:  # the untrained network's scores: what the run's progress is measured against
        result.validation.append(validation.run(state.model, 0, stream))
    state.model.train()
    bar = Progress(options.steps, "train", stream, enabled=stream.isatty(), unit="step", done=state.step)
    while state.step < options.steps:
        started = time.perf_counter()
        losses = _step(options, state, clips, device, precision)
        state.step += 1
        row = _loss_row(options, state, losses, time.perf_counter() - started)
        log.write(row)
        bar.advance(f"loss {row['loss']:.4f}")
        if not stream.isatty():  # a log file or a farm: one line every `log_every` steps instead of a bar
            _report(options, row, stream)
        if should_stop():  # save at once: a farm's kill follows its SIGTERM, and validation can take minutes
            result.checkpoint = _save(options, state, row["loss"])
            break
        last = state.step == options.steps
        if state.step % options.val_every == 0 or last:
            result.validation.append(validation.run(state.model, state.step, stream))
        if state.step % options.save_every == 0 or last:
            result.checkpoint = _save(options, state, row["loss"])
    bar.close()
    result.step = state.step
    return result


def _start(options: TrainOptions, device: torch.device) -> _State:
    torch.manual_seed(options.seed)
    asked = {"background": options.background, "skip_blocks": options.skip_blocks}
    asked = {key: value for key, value in asked.items() if value is not None}
    if not options.init:
        model = AFBURR(replace(named_config(options.model), **asked))
        start_from_imagenet(model)
        return _fresh_state(options, model.to(device), step=0)
    model = load_model(options.init)
    if options.skip_blocks and not model.config.skip_blocks:
        raise ValueError(f"{options.init} has no skip blocks to keep: train a configuration with them from the start")
    changes = {key: value for key, value in asked.items() if value != getattr(model.config, key)}
    if changes:
        model = _rebuilt(model, replace(model.config, **changes))
    return _fresh_state(options, model.to(device), step=0)


def _rebuilt(model: AFBURR, config: ModelConfig) -> AFBURR:
    """`model`'s weights in a network of another configuration: another background (the same parameters), or
    without the skip blocks (the same parameters, less those blocks')."""
    rebuilt = AFBURR(config)
    kept = rebuilt.state_dict()
    rebuilt.load_state_dict({key: value for key, value in model.state_dict().items() if key in kept})
    return rebuilt


def _fresh_state(options: TrainOptions, model: AFBURR, step: int) -> _State:
    if options.learn != "all":
        learn_only(model, options.learn)
    learning = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(learning, lr=options.lr, weight_decay=options.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=options.lr_step, gamma=0.5)
    return _State(model, optimizer, scheduler, step)


def _resume(options: TrainOptions, device: torch.device) -> _State:
    path = last_checkpoint(options.out)
    checkpoint = read_training(path)
    state = _fresh_state(options, load_model(path, map_location=device).to(device), checkpoint["training"]["step"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.scheduler.load_state_dict(checkpoint["scheduler"])
    restore_generators(checkpoint["training"])
    return state


def _clips(options: TrainOptions, source: Any, start_step: int) -> Iterator[ClipTensors]:
    """Clips from the first one of step `start_step` on, in order, whatever the number of workers."""
    total = options.steps * options.clips_per_step
    dataset = ClipDataset(source, total, options.seed, options.clips_per_step, options.hiding, options.reader == "skn")
    indices = range(start_step * options.clips_per_step, total)
    return iter(DataLoader(dataset, batch_size=None, sampler=indices, num_workers=options.workers))


def _step(
    options: TrainOptions, state: _State, clips: Iterator[ClipTensors], device: torch.device, precision: Precision
) -> list:
    read = ReadOptions(reader=options.reader)
    layout = memory_format(precision, state.model.config.reference_layout)
    lay_out_weights(state.model, layout)  # again after each validation, whose fp32 tracker may undo it
    losses = []
    for _ in range(options.clips_per_step):
        clip = next(clips).to(device, layout)
        with autocast(device, precision):
            loss = clip_loss(state.model, clip, read, options.recurrent, options.uncertainty_weight)
        (loss.total / options.clips_per_step).backward()
        losses.append(loss)
    state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    return losses


def _loss_row(options: TrainOptions, state: _State, losses: list, seconds: float) -> dict[str, Any]:
    def mean(index: int) -> float:
        return sum(float(loss[index].detach()) for loss in losses) / len(losses)

    return {
        "step": state.step,
        "loss": round(mean(0), 6),
        "cross_entropy": round(mean(1), 6),
        "uncertainty": round(mean(2), 6),
        "lr": state.scheduler.get_last_lr()[0],
        "hide_probability": round(options.hiding.probability(state.step - 1), 4),
        "clips_per_second": round(options.clips_per_step / seconds, 3),
    }


def _report(options: TrainOptions, row: dict[str, Any], stream: TextIO) -> None:
    if row["step"] % options.log_every == 0 or row["step"] == options.steps:
        print(
            f"step {row['step']}/{options.steps} loss {row['loss']:.4f} (ce {row['cross_entropy']:.4f} "
            f"lu {row['uncertainty']:.4f}) lr {row['lr']:.2e} {row['clips_per_second']:.2f} clips/s",
            file=stream,
            flush=True,
        )


def _save(options: TrainOptions, state: _State, loss: float) -> Path:
    return save_training(
        options.out, state.model, state.optimizer, state.scheduler, state.step, options.to_dict(), loss, options.keep
    )
