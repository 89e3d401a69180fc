"""`maskprop bench`: benchmarks that print a table and write JSON.

`bench model` times one frame's stages (query encoder, memory read, decoder, memory encoder, bank update) and
reports peak memory, for a resolution, object count, clip length and device. `--long-run` runs a long clip at
a small size (2,000 frames at 256x144 with a budget of 2,500 unless told
otherwise, so that the bank fills and starts evicting early) and samples the bank size and the process memory
every 100 frames, to show that memory stays flat once the bank is full.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli import EXIT_USAGE
from engine.commands.propagation_options import READERS
from engine.errors import EngineError, OutOfMemory

EXIT_OUT_OF_MEMORY = 33  # the farm convention: retry on a bigger GPU or at a lower resolution

LONG_RUN_DEFAULTS = {"size": (256, 144), "frames": 2000, "budget": 2_500, "sample_every": 100}
CLIP_DEFAULTS = {"size": (854, 480), "frames": 12, "budget": 300_000, "sample_every": 0}


def configure(parser: argparse.ArgumentParser) -> None:
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    model = benchmarks.add_parser(
        "model", help="per-frame time split and peak memory of the AFB-URR network and its bank"
    )
    model.add_argument("--size", type=_size, help="frame size WIDTHxHEIGHT (default 854x480; long run 256x144)")
    model.add_argument("--objects", type=int, default=1, help="objects besides the background (default 1)")
    model.add_argument("--frames", type=int, help="clip length (default 12; long run 2000)")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    model.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="bf16/fp16: CUDA only")
    model.add_argument("--reader", choices=tuple(READERS), default="global", help="memory reader")
    model.add_argument("--budget", type=int, help="feature bank budget (default 300000; long run 2500)")
    model.add_argument("--chunk-elements", type=int, default=1 << 26, help="affinity values held at once")
    model.add_argument("--checkpoint", help="weights to load (default: the built-in parity weights)")
    model.add_argument("--warmup", type=int, default=2, help="frames left out of the statistics (default 2)")
    model.add_argument("--long-run", action="store_true", help="long clip; sample bank size and memory")
    model.add_argument("--sample-every", type=int, help="long run: frames between samples (default 100)")
    model.add_argument("--deterministic", action="store_true", help="deterministic kernels only")
    model.add_argument("--json-out", type=Path, default=Path("bench-model.json"), help="default bench-model.json")


def run(args: argparse.Namespace) -> int:
    from engine.bench.model_bench import ModelBenchConfig, format_report, run_model_bench

    defaults = LONG_RUN_DEFAULTS if args.long_run else CLIP_DEFAULTS
    width, height = args.size or defaults["size"]
    config = ModelBenchConfig(
        height=height,
        width=width,
        objects=args.objects,
        frames=args.frames or defaults["frames"],
        device=args.device,
        precision=args.precision,
        reader=READERS[args.reader],
        budget=args.budget or defaults["budget"],
        chunk_elements=args.chunk_elements,
        checkpoint=args.checkpoint,
        warmup=args.warmup,
        sample_every=args.sample_every or defaults["sample_every"],
        deterministic=args.deterministic,
    )
    try:
        report = run_model_bench(config, progress=print if args.long_run else None)
    except OutOfMemory as exc:
        print(f"bench model: {exc}", file=sys.stderr)
        return EXIT_OUT_OF_MEMORY
    except (ValueError, EngineError) as exc:  # a device, precision or checkpoint this machine cannot use
        print(f"bench model: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_report(report))
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json_out}")
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 854x480, not {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError("size must be at least 16x16")
    return width, height
