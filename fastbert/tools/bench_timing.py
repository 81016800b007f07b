"""Timing primitives of `python -m fastbert bench` (round-robin repeats, paired ratios) and the
workloads it times (rows of a data file, synthetic texts of fixed token lengths)."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..data import TextDataset

if TYPE_CHECKING:
    from .bench_config import BenchConfig

# ----- measurement primitives ------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def paired_ratio(times: dict[str, list[float]], num: str | Sequence[str], den: str | Sequence[str]) -> float:
    """Median over rounds of sum(times of `num`) / sum(times of `den`) in the same round.

    `interleaved` runs every configuration once per round, so the i-th times of two runs were
    taken seconds apart; a ratio within a round cancels the machine's slow drifts, which a ratio
    of two medians would not. Rounds where either side has no time (a slow run with fewer
    repeats) are left out.

    >>> paired_ratio({"a": [2.0, 4.0, 9.0], "b": [1.0, 2.0, 3.0]}, "a", "b")
    2.0
    """
    num, den = ([num] if isinstance(num, str) else list(num)), ([den] if isinstance(den, str) else list(den))
    rounds = min(len(times[k]) for k in num + den)
    return median([sum(times[k][i] for k in num) / sum(times[k][i] for k in den) for i in range(rounds)])


def plan_repeats(warmup_seconds: float, repeats: int, min_repeats: int, seconds_per_config: float) -> int:
    """Repeats for a configuration whose warm-up took `warmup_seconds`: `repeats`, or fewer (but
    at least `min_repeats`) for one that would otherwise take longer than `seconds_per_config`.

    >>> plan_repeats(0.1, 5, 3, 15.0), plan_repeats(10.0, 5, 3, 15.0)
    (5, 3)
    """
    affordable = seconds_per_config / max(warmup_seconds, 1e-9)
    return max(min(min_repeats, repeats), min(repeats, int(min(affordable, repeats))))


def interleaved(runs: dict[str, Callable[[], object]], repeats: int, min_repeats: int = 3,
                seconds_per_config: float = float("inf"),
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of each run, round-robin: one untimed warm-up each, then rounds in which every run
    that still needs a repeat runs once; the order rotates by one each round so that no run is
    always first after another. Slow runs get fewer repeats (see `plan_repeats`).

    >>> times = interleaved({"a": lambda: None, "b": lambda: None}, repeats=3)
    >>> [len(t) for t in times.values()]
    [3, 3]
    """
    names = list(runs)
    counts = {}
    for name in names:
        start = clock()
        runs[name]()
        counts[name] = plan_repeats(clock() - start, repeats, min_repeats, seconds_per_config)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(max(counts.values(), default=0)):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if len(times[name]) < counts[name]:
                start = clock()
                runs[name]()
                times[name].append(clock() - start)
    return times


# ----- workloads -----------------------------------------------------------------------------
def evenly_spaced(n: int, k: int) -> list[int]:
    """k row indices spread over range(n) (all of them when k <= 0 or k >= n).

    >>> evenly_spaced(10, 4)
    [0, 2, 5, 7]
    """
    if k <= 0 or k >= n:
        return list(range(n))
    return [i * n // k for i in range(k)]


def synthetic_texts(tokenizer, words: Sequence[str], num_tokens: int, count: int) -> list[str]:
    """`count` texts of exactly `num_tokens` tokens ([CLS] and [SEP] included), made of
    consecutive `words` (cycled). A word that does not fit in what is left is skipped; a text
    that cannot be filled exactly is an error.

    >>> from transformers import AutoTokenizer                               # doctest: +SKIP
    >>> tok = AutoTokenizer.from_pretrained("bert-base-uncased")             # doctest: +SKIP
    >>> len(tok(synthetic_texts(tok, ["a", "fine", "film"], 8, 1)[0])["input_ids"])  # doctest: +SKIP
    8
    """
    specials = len(tokenizer("")["input_ids"])
    want = num_tokens - specials
    lengths = [len(ids) for ids in tokenizer(list(words), add_special_tokens=False)["input_ids"]]
    usable = [(w, n) for w, n in zip(words, lengths) if n > 0]
    if not any(n == 1 for _, n in usable):
        raise ValueError("synthetic_texts: need at least one single-token word to fill texts exactly")
    texts, k = [], 0
    for _ in range(count):
        out, have, tries = [], 0, 0
        while have < want:
            w, n = usable[k % len(usable)]
            k += 1
            tries += 1
            if have + n <= want:
                out.append(w)
                have += n
            elif tries > 50 * len(usable):
                raise ValueError(f"synthetic_texts: cannot fill {num_tokens} tokens exactly")
        texts.append(" ".join(out))
    return texts


def corpus_words(data: TextDataset | None, fallback: Sequence[str]) -> list[str]:
    """Whitespace-separated words of a dataset's texts (or `fallback` without data)."""
    if data is None:
        return list(fallback)
    words = []
    for t in data.texts:
        for part in (t if isinstance(t, tuple) else (t,)):
            words.extend(part.split())
    return words


@dataclass
class Workload:
    """Texts (with labels or not) timed at one batch size."""

    name: str
    data: TextDataset
    batch_size: int


def build_workloads(cfg: BenchConfig, model, data: TextDataset | None) -> list[Workload]:
    """The data file at each batch size (batch 1 on a spread-out subset when asked), then the
    synthetic lengths at each batch size."""
    out = []
    if data is not None:
        name = Path(data.source).parent.name + "/" + Path(data.source).name
        for bs in cfg.batch_sizes:
            rows = evenly_spaced(len(data), cfg.b1_samples if bs == 1 else cfg.data_samples)
            label = name if len(rows) == len(data) else f"{name} ({len(rows)} of {len(data)} rows)"
            out.append(Workload(label, data.subset(rows), bs))
    words = corpus_words(data, model.tokenizer.get_vocab().keys())
    for n in cfg.lengths:
        texts = synthetic_texts(model.tokenizer, words, min(n, model.config.max_length), cfg.synthetic_samples)
        for bs in cfg.batch_sizes:
            out.append(Workload(f"synthetic, {n} tokens", TextDataset(texts, None, f"synthetic-{n}"), bs))
    return out


