"""Fit per-layer temperatures and store the speed curve (the library of `python -m fastbert calibrate`,
whose command is in `fastbert/commands/calibrate.py`):

    python -m fastbert calibrate --model DIR --data DEV.tsv --fraction 0.5 --seed 0

takes a seeded half of DEV.tsv as the calibration set (the other half stays unseen, for
evaluation), fits one temperature per classifier by minimising the NLL against the labels
(against the teacher's labels with --unlabeled), and writes into DIR only `config.json` (the
temperatures) and `calibration.json` (the curve, with the data file's sha256 and the rows
used). The weights are not touched. --no-calibration stores the curve of the uncalibrated
model and removes any temperatures (the paper's exits).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .calibration import (CURVE_FILE, SPEED_GRID, Curve, apply_temperatures, build_curve, file_sha256,
                          fit_temperatures, layer_ece, save_curve)
from .checkpoint import METADATA, command_chain, read_record, without_calibration
from .data import TextDataset, split_rows
from .evaluate import LayerOutputs, all_layer_outputs


@dataclass
class CalibrationResult:
    """What `calibrate` did: the temperatures (None: left uncalibrated), each layer's ECE
    before and after on the calibration set, and the stored curve."""

    temperatures: list[float] | None
    ece_before: list[float]
    ece_after: list[float]
    curve: Curve

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Selection:
    """Rows of a data file: `rows` (0-based data rows, header excluded) and how they were chosen."""

    data: TextDataset
    rows: list[int]
    how: str

    def info(self, path: str | Path) -> dict:
        return {"path": str(path), "sha256": file_sha256(path), "selection": self.how, "rows": self.rows}


def select_rows(data: TextDataset, fraction: float = 1.0, seed: int = 0, holdout_fraction: float | None = None,
                holdout_seed: int = 0) -> tuple[Selection, Selection]:
    """(calibration, unseen) parts of a data file.

    holdout_fraction first keeps only the rows `train --dev-fraction F --seed S` held out from
    training (so that a model trained on the rest of the file is calibrated on text it never
    saw); `fraction` of those (a seeded split) is the calibration set, the rest is unseen.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction: in (0, 1], got {fraction}")
    pool, how = list(range(len(data))), "all rows"
    if holdout_fraction is not None:
        pool = split_rows(len(data), holdout_fraction, holdout_seed)[1]
        how = f"the rows `--dev-fraction {holdout_fraction:g} --seed {holdout_seed}` holds out"
    if fraction == 1.0:
        cal, rest = pool, []
    else:
        keep, take = split_rows(len(pool), fraction, seed)
        cal, rest = [pool[i] for i in take], [pool[i] for i in keep]
    part = f"{how}; a seeded split (fraction {fraction:g}, seed {seed}): "
    return (Selection(data.subset(cal), cal, part + "the calibration part"),
            Selection(data.subset(rest), rest, part + "the part left unseen"))


def stored_split(model, path: str | Path) -> tuple[list[int], list[int]]:
    """(calibration rows, unseen rows) of the data file `path`, as the model's stored calibration
    chose them. ValueError when the model has no curve, its curve records no data file, or
    `path` is not that file (its sha256 differs)."""
    if model.curve is None:
        raise ValueError("this model has no calibration curve: run `python -m fastbert calibrate`")
    info = model.curve.data or {}
    if not info.get("sha256"):
        raise ValueError("its calibration.json records no data file: run `python -m fastbert calibrate --data FILE`")
    if file_sha256(path) != info["sha256"]:
        raise ValueError(f"{path} is not the file the model was calibrated on ({info.get('path')})")
    return list(info.get("rows") or []), list(info.get("unseen_rows") or [])


def calibrate(model, data: TextDataset, fit: bool = True, data_info: dict | None = None,
              speeds=SPEED_GRID, batch_size: int = 64) -> CalibrationResult:
    """Fit `model`'s temperatures on `data` (labels, or the teacher's predictions when the data
    has none) and measure its curve; sets `model.config.temperatures` and `model.curve`.

    >>> result = calibrate(model, load_dataset("dev.tsv"))  # doctest: +SKIP
    >>> len(result.temperatures) == model.num_layers  # doctest: +SKIP
    True
    """
    raw = all_layer_outputs(model, data, batch_size, calibrated=False)
    targets = raw.labels if raw.labels is not None else raw.layer_probs[-1].argmax(-1)
    temps = fit_temperatures(raw.layer_probs, targets, fit_last=raw.labels is not None) if fit else None
    cal = LayerOutputs(apply_temperatures(raw.layer_probs, temps), raw.num_tokens, raw.labels)
    curve = build_curve(model, cal, speeds, data_info, calibrated=temps is not None)
    model.config.temperatures = temps
    model.curve = curve
    return CalibrationResult(temps, layer_ece(raw.layer_probs, targets), layer_ece(cal.layer_probs, targets), curve)


def write_calibration(model, directory: str | Path, command: str | None = None) -> None:
    """Write the curve file and set the two calibration fields of config.json in an existing
    model directory; the rest of config.json is left as it is. `command` (the calibrate command
    line) ends the commands of the directory's training.json, if it has one, in place of any
    earlier calibration, so that the record of how the model was made includes its calibration
    (without a command, an earlier calibration's command is only removed: it no longer applies)."""
    directory = Path(directory)
    record = read_record(directory)  # read first: a broken record changes nothing
    model.config.calibration_curve = model.config.calibration_curve or CURVE_FILE
    save_curve(model.curve, directory / model.config.calibration_curve)
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(temperatures=model.config.temperatures, calibration_curve=model.config.calibration_curve)
    path.write_text(json.dumps(config, indent=2) + "\n")
    if record is not None:
        chain = command_chain(record)
        commands = without_calibration(chain) + ([command] if command else [])
        if commands != chain:
            record["commands"] = commands
            (directory / METADATA).write_text(json.dumps(record, indent=2) + "\n")
