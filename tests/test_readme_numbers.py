"""The README's headline table states the figures its reports store: each cell equals, to the
digits shown, the report row it names (the reports are tied to the loaded models by their own
tests, e.g. tests/test_shipped_12l.py)."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "assets" / "reports"

# README row label (its start) -> the report table behind it
SOURCES = {"SST-2, MiniLM-L6": ("sst2-minilm.json", None),
           "AG News, MiniLM-L6": ("agnews-minilm.json", None),
           "ChnSentiCorp, 4-layer": ("chinese.json", "chnsenticorp"),
           "ChnSentiCorp, multilingual-e5-small": ("chinese.json", "chnsenticorp-12l")}


def headline_rows() -> dict[str, list[str]]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| model | full model | speed 0.5 | speed 0.8 | report |")
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:4]
    return rows


def report_table(name: str, section: str | None) -> dict[str, dict]:
    data = json.loads((REPORTS / name).read_text(encoding="utf-8"))
    table = data["table"] if section is None else next(s for s in data["sections"] if s["key"] == section)["table"]
    return {r["name"]: r for r in table}


@pytest.mark.parametrize("label", sorted(SOURCES))
def test_headline_row_is_its_reports_row(label):
    rows = headline_rows()
    assert len(rows) == len(SOURCES)
    cells = next(v for k, v in rows.items() if k.startswith(label))
    table = report_table(*SOURCES[label])
    full = next(r for n, r in table.items() if n.startswith("Full model"))
    expected = [f"{100 * full['accuracy']:.2f}%"] + [
        f"{100 * table[f'FastBERT speed={s}']['accuracy']:.2f}%, {table[f'FastBERT speed={s}']['speedup']:.2f}x"
        for s in ("0.5", "0.8")]
    assert cells == expected
