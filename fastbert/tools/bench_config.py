"""What `python -m fastbert bench` measures: `BenchConfig`, whose fields are also the command's
options (`fastbert/commands/bench.py`). Light: no torch, so the command line builds fast."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "assets/models/sst2-minilm"
DEFAULT_DATA = "../shared/data/sst2/dev.tsv"
SPEEDS = (0.0, 0.1, 0.3, 0.5, 0.8)
# The app latency script of a source checkout (fastbert/tools/ -> the repository root).
APP_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "app_latency.py"


def _help(text: str, **more) -> dict:
    return {"help": text, **more}


@dataclass
class BenchConfig:
    """What to measure. Example: `BenchConfig(model="assets/models/sst2-minilm", repeats=3)`."""

    model: str = field(default=DEFAULT_MODEL, metadata=_help("a saved FastBERT model directory"))
    data: str | None = field(default=DEFAULT_DATA, metadata=_help("labeled data file ('none': synthetic texts only)"))
    lengths: list[int] = field(default_factory=lambda: [8, 32, 64, 128],
                               metadata=_help("synthetic text lengths in tokens ('' for none)"))
    speeds: list[float] = field(default_factory=lambda: list(SPEEDS), metadata=_help("speeds to time; 0 included"))
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32], metadata=_help("batch sizes to time"))
    repeats: int = field(default=5, metadata=_help("timed rounds per configuration"))
    min_repeats: int = field(default=3, metadata=_help("rounds for a configuration too slow for --repeats"))
    seconds_per_config: float = field(default=15.0, metadata=_help(
        "a configuration whose warm-up times --repeats exceeds this gets fewer repeats"))
    b1_samples: int = field(default=300, metadata=_help("rows of the data file timed at batch 1, evenly spaced (0: all)"))
    data_samples: int = field(default=0, metadata=_help("rows of the data file timed at the other batch sizes (0: all)"))
    synthetic_samples: int = field(default=64, metadata=_help("texts per synthetic length"))
    threads: int = field(default=2, metadata=_help("torch CPU threads (0: torch's default)"))
    device: str = field(default="cpu", metadata=_help("cpu or cuda"))
    pipeline: bool = field(default=True, metadata=_help("skip reference (c)"))
    onnxruntime: bool = field(default=True, metadata=_help("skip references (d) and (e)"))
    calibrated: bool = field(default=True, metadata=_help(
        "the paper's exits: ignore the model's temperatures (timed and reported alike)", flag="--no-calibration"))
    app: bool = field(default=True, metadata=_help("skip the app (cold start, latency, memory)"))
    app_requests: int = field(default=50, metadata=_help("sequential /classify requests"))
    app_clients: int = field(default=16, metadata=_help("concurrent clients"))
    app_script: str | None = field(default=None, metadata=_help(
        "the app latency script (default: benchmarks/app_latency.py of this source checkout; it launches "
        "the app.py beside it)"))
    targets: str | None = field(default=None, metadata=_help(
        "a JSON file of targets to check (e.g. benchmarks/bench_targets.json); none: no checks"))

    def __post_init__(self) -> None:
        if self.data in ("", "none"):
            self.data = None
        if not self.speeds or any(not 0.0 <= s <= 1.0 for s in self.speeds):
            raise ValueError(f"speeds: each in [0, 1], got {self.speeds}")
        if 0.0 not in self.speeds:
            raise ValueError("speeds: must include 0 (reference (a))")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch_sizes: each at least 1, got {self.batch_sizes}")
        if any(n < 3 for n in self.lengths):
            raise ValueError(f"lengths: token counts of at least 3 ([CLS] word [SEP]), got {self.lengths}")
        if self.repeats < 1 or self.min_repeats < 1:
            raise ValueError(f"repeats and min_repeats: at least 1, got {self.repeats}, {self.min_repeats}")
        if self.threads < 0:
            raise ValueError(f"threads: 0 (torch's default) or more, got {self.threads}")
        if self.synthetic_samples < 1 and self.lengths:
            raise ValueError("synthetic_samples: at least 1 when lengths are given")

    @property
    def app_latency_script(self) -> Path:
        return Path(self.app_script) if self.app_script else APP_SCRIPT

    def check_files(self) -> None:
        """Before any work: the model, and the app script when the app is measured, exist."""
        if not Path(self.model).is_dir():
            raise FileNotFoundError(f"{self.model}: no such model directory (train it, or pass --model)")
        if self.app and not self.app_latency_script.is_file():
            raise FileNotFoundError(f"{self.app_latency_script}: no app latency script (it comes with a source checkout: "
                                    "pass --app-script PATH/benchmarks/app_latency.py, or --no-app)")
        if self.targets and not Path(self.targets).is_file():
            raise FileNotFoundError(f"{self.targets}: no such targets file")
