"""`python -m fastbert bench`: wall-clock speedup next to FLOPs speedup (the library:
`fastbert.tools.bench`; what it measures: `fastbert.tools.bench_config.BenchConfig`, whose
fields are this command's options)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..tools.bench_config import BenchConfig
from .common import add_command, command_line


@dataclass
class BenchOutput:
    out: str = field(default="assets/reports/bench.md", metadata={"help": "markdown report ('' for none)"})
    json: str | None = field(default=None, metadata={"help": "also write every number as JSON here"})


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    print(f"wrote {path}", file=sys.stderr)


def run(cfg: BenchConfig, output: BenchOutput) -> int:
    from ..tools.bench import run_bench
    from ..tools.bench_report import Targets, markdown_report

    cfg.check_files()
    targets = Targets.load(cfg.targets) if cfg.targets else None
    start = time.perf_counter()
    result = run_bench(cfg, command_line("bench", cfg, output), log=lambda s: print(s, file=sys.stderr, flush=True))
    report = markdown_report(result, targets)
    report += f"\nThe benchmark took {time.perf_counter() - start:.0f} s.\n"
    print(report)
    if output.out:
        _write(output.out, report)
    if output.json:
        _write(output.json, json.dumps(result.to_dict(), indent=1) + "\n")
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "bench", run, BenchConfig, BenchOutput,
                help="wall-clock speedup next to FLOPs speedup, against plain transformers; app latency and memory")
