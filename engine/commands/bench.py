"""`maskprop bench`: benchmarks that print a table and write JSON.

`bench server` compares propagating through the engine server (1 and 4 concurrent clients, streamed and path
frames) with propagating in-process; see `engine.bench.server_bench`.

`bench soak` runs several clients through one server at once, kills one with SIGKILL mid-run and restarts it,
and checks every client's mattes against its solo run while sampling the server's memory; it exits 1 when
a check fails. See `engine.bench.soak`.

`bench farm` runs the OpenJD template with `openjd run` on a few shots, with its shared engine and with a
network load in every task, and reports each task's time; see `engine.bench.farm_bench`.

`bench model` times one frame's stages (query encoder, memory read, decoder, memory encoder, bank update) and
reports peak memory, for a resolution, object count, clip length and device. `--long-run` runs a long clip at
a small size (2,000 frames at 256x144 with a budget of 2,500 unless told
otherwise, so that the bank fills and starts evicting early) and samples the bank size and the process memory
every 100 frames, to show that memory stays flat once the bank is full.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from engine.choices import MODEL_NAMES, REQUESTS
from engine.errors import EngineError, OutOfMemory
from engine.exit_codes import BAD_INPUT, CHECK_FAILED, OUT_OF_MEMORY
from engine.propagation.bank_config import BankConfig
from engine.propagation.settings import READERS

log = logging.getLogger("engine.bench")
T = TypeVar("T")


LONG_RUN_DEFAULTS = {"size": (256, 144), "frames": 2000, "budget": 2_500, "sample_every": 100}
CLIP_DEFAULTS = {"size": (854, 480), "frames": 12, "budget": BankConfig.budget, "sample_every": 0}


def configure(parser: argparse.ArgumentParser) -> None:
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    model = benchmarks.add_parser(
        "model", help="per-frame time split and peak memory of the AFB-URR network and its bank"
    )
    model.add_argument("--size", type=_size, help=f"plate size WIDTHxHEIGHT (default {_defaults('size')})")
    model.add_argument(
        "--max-size",
        type=_at_least(0),
        help="cap on the shorter side the network runs at, as propagate's (default: the network's own; 0: the plate's)",
    )
    model.add_argument(
        "--memory-every",
        type=_at_least(1),
        help="memorise every N-th frame, as propagate's (default: the network's own)",
    )
    model.add_argument(
        "--objects", type=_counts, default=(1,), help="objects besides the background, comma-separated (default 1)"
    )
    model.add_argument("--frames", type=int, help=f"clip length (default {_defaults('frames')})")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default %(default)s)")
    model.add_argument(
        "--precision",
        type=_precisions,
        default=("fp32", "auto"),
        help="precisions to measure side by side, comma-separated, each as --precision of propagate takes it "
        "(default fp32,auto: fp32, and bf16 too where the device has bf16 matrix units)",
    )
    model.add_argument("--strict-precision", action="store_true", help="refuse bf16 without bf16 units")
    model.add_argument("--compile", action="store_true", help="torch.compile the network first")
    model.add_argument("--reader", choices=tuple(READERS), default="global", help="memory reader (default %(default)s)")
    model.add_argument("--budget", type=int, help=f"feature bank budget (default {_defaults('budget')})")
    model.add_argument(
        "--chunk-elements",
        type=int,
        default=BankConfig.chunk_elements,
        help="affinity values held at once (default %(default)s)",
    )
    model.add_argument(
        "--model",
        choices=MODEL_NAMES,
        help="named network configuration filled with the parity weights (default: the reference's, "
        "afb-urr-r50); --checkpoint brings its own",
    )
    model.add_argument("--checkpoint", help="weights to load, in their own configuration (default: parity weights)")
    model.add_argument("--warmup", type=int, default=2, help="frames left out of the statistics (default %(default)s)")
    model.add_argument("--long-run", action="store_true", help="long clip; sample bank size and memory")
    model.add_argument(
        "--sample-every",
        type=int,
        help=f"long run: frames between samples (default {LONG_RUN_DEFAULTS['sample_every']})",
    )
    model.add_argument("--deterministic", action="store_true", help="deterministic kernels only")
    model.add_argument(
        "--json-out", type=Path, default=Path("bench-model.json"), help="report file (default %(default)s)"
    )
    model.set_defaults(bench=_run_model)
    server = benchmarks.add_parser(
        "server", help="throughput and per-frame latency through the engine server versus in-process"
    )
    server.add_argument("--size", type=_size, default=(427, 240), help="frame size WIDTHxHEIGHT (default 427x240)")
    server.add_argument("--frames", type=_at_least(2), default=12, help="frames per client (default %(default)s)")
    server.add_argument("--objects", type=_at_least(1), default=2, help="objects (default %(default)s)")
    server.add_argument(
        "--clients", type=_counts, default=(1, 4), help="concurrent clients to measure, comma-separated (default 1,4)"
    )
    server.add_argument(
        "--sources", type=_sources, default=("stream", "files"), help="frame sources to measure (default stream,files)"
    )
    server.add_argument(
        "--max-size", type=_at_least(0), help="internal resolution cap (default: the network's own, as propagate's)"
    )
    server.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default %(default)s)")
    server.add_argument("--checkpoint", help="weights to load (default: the built-in parity weights)")
    server.add_argument(
        "--json-out", type=Path, default=Path("bench-server.json"), help="report file (default %(default)s)"
    )
    server.set_defaults(bench=_run_server)

    soak = benchmarks.add_parser(
        "soak",
        help="several clients through one server, one killed and restarted mid-run: mattes must equal solo runs",
    )
    soak.add_argument("--clients", type=_at_least(2), default=4, help="concurrent clients (default %(default)s)")
    soak.add_argument("--frames", type=_at_least(3), default=500, help="frames per client (default %(default)s)")
    soak.add_argument("--size", type=_size, default=(64, 48), help="frame size WIDTHxHEIGHT (default 64x48)")
    soak.add_argument("--objects", type=_at_least(1), default=2, help="objects (default %(default)s)")
    soak.add_argument(
        "--kill-after", type=_at_least(1), help="results client 0 takes before it is killed (default: a third)"
    )
    soak.add_argument(
        "--client-grace", type=float, default=30.0, help="the server's --client-grace in seconds (default 30)"
    )
    soak.add_argument(
        "--max-size", type=_at_least(0), default=0, help="internal resolution cap (default 0: the plate's own)"
    )
    soak.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default %(default)s)")
    soak.add_argument("--checkpoint", help="weights to load (default: the built-in parity weights)")
    soak.add_argument(
        "--json-out", type=Path, default=Path("bench-soak.json"), help="report file (default %(default)s)"
    )
    soak.set_defaults(bench=_run_soak)

    farm = benchmarks.add_parser(
        "farm", help="the OpenJD template run by openjd on a few shots, with its shared engine and without"
    )
    farm.add_argument("--data", required=True, help="a DAVIS-layout folder (JPEGImages/, Annotations/) of shots")
    farm.add_argument("--shots", type=_at_least(1), default=4, help="its first shots to run (default %(default)s)")
    farm.add_argument("--frames", type=_at_least(0), default=0, help="frames per shot (default 0: every frame)")
    farm.add_argument(
        "--json-out", type=Path, default=Path("bench-farm.json"), help="report file (default %(default)s)"
    )
    farm.set_defaults(bench=_run_farm)


def run(args: argparse.Namespace) -> int:
    return args.bench(args)


def _defaults(key: str) -> str:
    """A default that depends on --long-run, as help states it: "854x480; long run 256x144"."""
    clip, long_run = (
        "x".join(map(str, value)) if isinstance(value, tuple) else str(value)
        for value in (CLIP_DEFAULTS[key], LONG_RUN_DEFAULTS[key])
    )
    return f"{clip}; long run {long_run}"


def _run_server(args: argparse.Namespace) -> int:
    from engine.bench.server_bench import ServerBenchConfig, format_report, run_server_bench

    config = _config_from(args, ServerBenchConfig)
    return _write_report("server", lambda: run_server_bench(config, _measuring), format_report, args.json_out)


def _run_soak(args: argparse.Namespace) -> int:
    from engine.bench.soak import SoakConfig, format_report, run_soak

    config = _config_from(args, SoakConfig)
    return _write_report("soak", lambda: run_soak(config, _measuring), format_report, args.json_out)


def _run_farm(args: argparse.Namespace) -> int:
    from engine.bench.farm_bench import FarmBenchConfig, format_report, run_farm_bench

    config = FarmBenchConfig(args.data, args.shots, args.frames)
    return _write_report("farm", lambda: run_farm_bench(config), format_report, args.json_out)


def _config_from(args: argparse.Namespace, config_type: type[T]) -> T:
    """A benchmark's settings from the options of the same names; `--size` gives `width` and `height`."""
    width, height = args.size
    names = {field.name for field in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    given = {name: value for name, value in vars(args).items() if name in names}
    return config_type(width=width, height=height, **given)


def _measuring(what: str) -> None:
    log.info("measuring %s", what)


def _run_model(args: argparse.Namespace) -> int:
    from engine.bench.model_bench import format_reports, run_model_benches

    def measure() -> dict[str, Any]:  # choosing the precisions may fail too: inside the error reporting
        return run_model_benches(_model_configs(args), print if args.long_run else None)

    return _write_report("model", measure, format_reports, args.json_out)


def _model_configs(args: argparse.Namespace) -> list[Any]:
    """One configuration per object count and distinct precision (`auto` may be the same as `fp32`)."""
    from engine.compute.device import select_device
    from engine.compute.precision import choose_for_device
    from engine.model.config import REFERENCE, named_config

    network = named_config(args.model) if args.model else REFERENCE  # a wrong name answered before any run
    device = select_device(args.device)
    choices = {}
    for requested in args.precision:
        choice = choose_for_device(requested, args.strict_precision, device)
        choices.setdefault(choice.precision, choice)
    return [
        _model_config(args, network.name, objects, choice.precision, choice.reason)
        for objects in args.objects
        for choice in choices.values()
    ]


def _model_config(args: argparse.Namespace, network: str, objects: int, precision: str, reason: str) -> Any:
    from engine.bench.model_bench import ModelBenchConfig

    defaults = LONG_RUN_DEFAULTS if args.long_run else CLIP_DEFAULTS
    width, height = args.size or defaults["size"]
    return ModelBenchConfig(
        height=height,
        width=width,
        max_size=args.max_size,
        memory_every=args.memory_every,
        objects=objects,
        frames=args.frames or defaults["frames"],
        device=args.device,
        precision=precision,
        precision_reason=reason,
        compile=args.compile,
        reader=READERS[args.reader],
        budget=args.budget or defaults["budget"],
        chunk_elements=args.chunk_elements,
        network=network,
        checkpoint=args.checkpoint,
        warmup=args.warmup,
        sample_every=args.sample_every or defaults["sample_every"],
        deterministic=args.deterministic,
    )


def _write_report(
    name: str, measure: Callable[[], dict[str, Any]], format_report: Callable[[dict[str, Any]], str], json_out: Path
) -> int:
    """Run a benchmark, print its table and write its JSON; expected failures are one line and an exit code."""
    try:
        report = measure()
    except OutOfMemory as exc:
        print(f"bench {name}: {exc}", file=sys.stderr)
        return OUT_OF_MEMORY
    except (ValueError, EngineError) as exc:  # a device, precision or checkpoint this machine cannot use
        print(f"bench {name}: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(format_report(report))
    from engine.io.atomic import write_text_atomic  # engine.io loads numpy and OpenCV, which --help must not

    write_text_atomic(json_out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {json_out}")
    return CHECK_FAILED if report.get("problems") else 0


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is below {low}")
        return value

    return parse


def _counts(text: str) -> tuple[int, ...]:
    return tuple(_at_least(1)(part) for part in text.split(","))


def _precisions(text: str) -> tuple[str, ...]:
    requested = tuple(text.split(","))
    if any(part not in REQUESTS for part in requested):
        raise argparse.ArgumentTypeError(f"precisions must be among {', '.join(REQUESTS)}, not {text!r}")
    return requested


def _sources(text: str) -> tuple[str, ...]:
    sources = tuple(text.split(","))
    if not sources or any(source not in ("stream", "files") for source in sources):
        raise argparse.ArgumentTypeError(f"sources must be stream, files or stream,files, not {text!r}")
    return sources


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 854x480, not {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError("size must be at least 16x16")
    return width, height
