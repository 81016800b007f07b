"""What an install brings: kaleido is optional (a clear message when a PNG needs it), and a
Hugging Face Space gets the CPU build of the pinned torch, and assets/ fits its budget."""
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from fastbert import cli

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def test_kaleido_is_an_optional_extra():
    assert not any(line.startswith("kaleido") for line in requirement_lines(ROOT / "requirements.txt"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not any(d.startswith("kaleido") for d in project["dependencies"] + extras["app"])
    assert any(d.startswith("kaleido") for d in extras["report"])


def test_a_space_installs_the_cpu_build_of_the_pinned_torch():
    (pinned,) = [line for line in requirement_lines(ROOT / "requirements.txt") if line.startswith("torch")]
    pre = requirement_lines(ROOT / "pre-requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pre
    (cpu,) = [line for line in pre if line.startswith("torch")]
    assert cpu == pinned + "+cpu"  # the same version, so requirements.txt's pin is then satisfied
    # The local install reads requirements.txt only, which names no index (this machine has none).
    assert not any(line.startswith("-") and "index" in line for line in requirement_lines(ROOT / "requirements.txt"))


def _ukd_report(argv):
    from demo import ukd_report

    return ukd_report.main(argv)


@pytest.mark.parametrize("command", [["report", "--model", "m", "--data", "d", "--out", "o.md"],
                                     ["ukd_report", "runs.json"]])
def test_png_figures_without_kaleido_are_a_one_line_error(monkeypatch, capsys, command):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kaleido" else real(name, *a))
    assert (_ukd_report(command[1:]) if command[0] == "ukd_report" else cli.main(command)) == 2
    err = capsys.readouterr().err
    assert re.search(r"kaleido.*fastbert-adaptive\[report\].*--no-png", err) and "Traceback" not in err


def test_assets_stay_within_their_100_mb_budget():
    """Issue 15's budget for everything under assets/ (models, examples, reports): the bytes of
    its files (`du -sb assets` also counts the directories, a few kB more). The lower bound
    fails a checkout whose models are missing or are Git LFS pointers."""
    root = ROOT / "assets"
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert 50e6 < total <= 100e6, f"assets/ holds {total / 1e6:.1f} MB"
