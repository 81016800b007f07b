"""benchmarks/chinese_report.py: the paper's figures come from its table, and a section rendered
from its stored record is the section rendered right after measuring (tiny model, tiny data)."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import chinese_report  # noqa: E402
from chinese_records import (PAPER_MODELS, PaperTableError, SectionRecord, load_paper_table,  # noqa: E402
                             render_section)

DATASETS = ("ChnSentiCorp", "Book review", "Shopping review", "LCQMC", "Weibo", "THUCNews")


def write_paper_table(path: Path) -> dict:
    """A Table 2-shaped tsv whose cells all differ, so that a row read from the wrong place shows."""
    cells, lines = {}, ["dataset\tmodel\taccuracy\tflops_millions\tspeedup"]
    for i, dataset in enumerate(DATASETS):
        for j, model in enumerate(PAPER_MODELS):
            acc, flops, sp = 50 + i + j / 10, 1000 + 10 * i + j, 1 + i + j / 100
            cells[(dataset, model)] = (acc, sp)
            lines.append(f"{dataset}\t{model}\t{acc:.2f}\t{flops}\t{sp:.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cells


def test_paper_lookup_reads_every_row_of_the_tsv(tmp_path):
    cells = write_paper_table(tmp_path / "t2.tsv")
    table = load_paper_table(tmp_path / "t2.tsv")
    assert len(table) == len(DATASETS) * 7
    for key, (acc, sp) in cells.items():
        assert (table[key].accuracy, table[key].speedup) == (pytest.approx(acc), pytest.approx(sp))


def test_missing_paper_table_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(PaperTableError) as err:
        load_paper_table(tmp_path / "nope.tsv")
    assert "\n" not in str(err.value) and "nope.tsv" in str(err.value)
    with pytest.raises(SystemExit) as ex:  # the script stops before loading any model
        chinese_report.main(["--paper-table", str(tmp_path / "nope.tsv"), "--model", "chnsenticorp=/no/such/model"])
    assert str(ex.value) == str(err.value)


@pytest.fixture
def data_root(tmp_path, texts):
    (tmp_path / "data" / "chnsenticorp").mkdir(parents=True)
    rows = [f"{['negative', 'positive'][i % 2]}\t{t}" for i, t in enumerate(texts * 3)]
    (tmp_path / "data" / "chnsenticorp" / "dev.tsv").write_text("label\ttext_a\n" + "\n".join(rows) + "\n",
                                                                encoding="utf-8")
    return tmp_path / "data"


def test_render_from_stored_record_equals_render_after_measuring(tmp_path, tiny_model_dir, data_root):
    cells = write_paper_table(tmp_path / "t2.tsv")
    paper = load_paper_table(tmp_path / "t2.tsv")
    rec = chinese_report.measure_section("chnsenticorp-tiny", str(tiny_model_dir), [], str(data_root),
                                         title="ChnSentiCorp, tiny", measured_by="python benchmarks/x.py")
    text = render_section(rec, paper)
    stored = SectionRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert render_section(stored, paper) == text
    # Every row of the paper's ChnSentiCorp table is printed, from the tsv, beside its row or below.
    for model in PAPER_MODELS:
        acc, sp = cells[("ChnSentiCorp", model)]
        assert f"{acc:.2f}%" in text and f"{sp:.2f}x" in text
    assert [e.speed for e in rec.exits] == [0.1, 0.5, 0.8]
    assert "not recorded" not in text.split("Model when measured:")[0]


def test_previous_run_keeps_a_section_and_adds_another(tmp_path, tiny_model_dir, data_root):
    write_paper_table(tmp_path / "t2.tsv")
    out = tmp_path / "chinese.md"
    common = ["--paper-table", str(tmp_path / "t2.tsv"), "--data-root", str(data_root)]
    chinese_report.main(common + ["--out", str(out), "--model", f"chnsenticorp={tiny_model_dir}"])
    first = out.read_text(encoding="utf-8")
    section = first[first.index("### "):first.index("## Regenerate")]
    out2 = tmp_path / "again.md"
    chinese_report.main(common + ["--out", str(out2), "--previous", str(out.with_suffix(".json")),
                                  "--model", f"chnsenticorp-x={tiny_model_dir}", "--title", "chnsenticorp-x=Again"])
    second = out2.read_text(encoding="utf-8")
    assert second.startswith(first[:first.index("### ")])  # same heading, same paper paragraph
    assert section in second  # the stored section, rendered from its record, without a model
    assert "### Again:" in second
    stored = json.loads(out2.with_suffix(".json").read_text(encoding="utf-8"))
    assert [s["key"] for s in stored["sections"]] == ["chnsenticorp", "chnsenticorp-x"]
    regen = second[second.index("## Regenerate"):]
    assert "Measured by that run (models loaded, dev sets evaluated): Again (`chnsenticorp-x`): every figure." in regen
    assert "ChnSentiCorp (`chnsenticorp`): every figure, measured by:" in regen
    with pytest.raises(SystemExit, match="--keep weibo: not in"):
        chinese_report.main(common + ["--out", str(out2), "--previous", str(out.with_suffix(".json")),
                                      "--keep", "weibo"])


def test_add_exits_needs_the_stored_rows(tmp_path, data_root, model):
    write_paper_table(tmp_path / "t2.tsv")
    out, mine = tmp_path / "chinese.md", tmp_path / "mine"
    model.save_pretrained(mine)
    common = ["--paper-table", str(tmp_path / "t2.tsv"), "--data-root", str(data_root), "--out", str(out)]
    chinese_report.main(common + ["--model", f"chnsenticorp={mine}"])
    stored = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    exits = stored["sections"][0]["exits"]
    stored["sections"][0]["exits"] = None  # as in a record written before exits were kept
    out.with_suffix(".json").write_text(json.dumps(stored), encoding="utf-8")
    chinese_report.main(common + ["--previous", str(out.with_suffix(".json"))])
    assert "Exit layers (the paper's Figure 6): not recorded" in out.read_text(encoding="utf-8")
    chinese_report.main(common + ["--previous", str(out.with_suffix(".json")), "--add-exits", f"chnsenticorp={mine}"])
    again = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["sections"][0]
    assert again["exits"] == exits
    assert [m["what"] for m in again["measured_by"]] == ["every figure", "the exit layers"]
    # The same directory with other weights no longer gives the stored rows: refused.
    from tiny import tiny_model
    tiny_model(tmp_path / "tok", seed=1).save_pretrained(mine)
    with pytest.raises(SystemExit, match="does not give the stored rows"):
        chinese_report.main(common + ["--previous", str(out.with_suffix(".json")), "--add-exits", f"chnsenticorp={mine}"])


def _record(key, dataset, layers, full, fast):
    """A stored section with a full-model row and FastBERT rows {speed: (accuracy, speedup)}."""
    from chinese_records import ExitFigures

    table = [{"name": f"Full model ({layers} layers, teacher only)", "accuracy": full, "flops": 1e9, "speedup": 1.0,
              "paper_model": "BERT"}]
    table += [{"name": f"FastBERT speed={s:g}", "accuracy": a, "flops": 1e9 / x, "speedup": x,
               "paper_model": f"FastBERT (speed={s:g})"} for s, (a, x) in fast.items()]
    return SectionRecord(key=key, dataset=dataset, title=dataset, dev_rows=10, model="m", layers=layers,
                         backbone="b", train_path=None, train_rows=None, train_note="", commands=None, baselines=[],
                         table=table, within_1_point={"speed": None}, calibrated=False,
                         exits=[ExitFigures(0.8, 1.85, 0.785, [])])


def test_summary_has_one_line_per_12_layer_dataset_with_the_papers_cells_and_checks(tmp_path):
    from chinese_records import render_summary

    cells = write_paper_table(tmp_path / "t2.tsv")
    paper = load_paper_table(tmp_path / "t2.tsv")
    good = _record("lcqmc-12l", "LCQMC", 12, 0.90, {0.1: (0.897, 2.1), 0.5: (0.885, 4.2), 0.8: (0.85, 5.5)})
    bad = _record("weibo-12l", "Weibo", 12, 0.90, {0.1: (0.89, 2.5), 0.5: (0.87, 4.5), 0.8: (0.80, 4.9)})
    shallow = _record("chnsenticorp", "ChnSentiCorp", 4, 0.86, {0.1: (0.86, 1.0), 0.5: (0.86, 2.0), 0.8: (0.85, 3.0)})
    text = render_summary([shallow, good, bad], paper)
    lines = [line for line in text.splitlines() if line.startswith("| LCQMC") or line.startswith("| Weibo")]
    assert len(lines) == 2 and "ChnSentiCorp" not in text  # the 4-layer section is not summarised
    assert _ours_checks(lines[0]) == "met / met / met"
    # 1 point lost at speed 0.1 (> 0.5), 3 at speed 0.5 (> 2), 4.9x at speed 0.8 (< 5x)
    assert _ours_checks(lines[1]) == "**missed** / **missed** / **missed**"
    acc, sp = cells[("LCQMC", "FastBERT (speed=0.5)")]
    assert f"88.50% at 4.20x / {acc:.2f}% at {sp:.2f}x" in lines[0]
    assert f"/ {cells[('Weibo', 'BERT')][0]:.2f}%" in lines[1] and "1.85, 78.5%" in lines[1]
    assert render_summary([shallow], paper) == ""
    # speedup alone fails a check; exactly 0.5 points lost (6 of 1,200 rows) passes it
    slow = _record("lcqmc-12l", "LCQMC", 12, 1194 / 1200, {0.1: (1188 / 1200, 1.5), 0.5: (1170 / 1200, 4.0),
                                                          0.8: (0.9, 5.0)})
    line = next(x for x in render_summary([slow], paper).splitlines() if x.startswith("| LCQMC"))
    assert _ours_checks(line) == "**missed** / met / met"
    edge = _record("lcqmc-12l", "LCQMC", 12, 1194 / 1200, {0.1: (1188 / 1200, 2.0), 0.5: (1170 / 1200, 4.0),
                                                          0.8: (0.9, 5.0)})
    assert _ours_checks(render_summary([edge], paper).splitlines()[-1]) == "met / met / met"


def _ours_checks(line: str) -> str:
    return line.strip("| ").split(" | ")[-2]


def test_summary_applies_the_checks_to_the_papers_own_rows(tmp_path):
    """The last column checks the paper's cells against the paper's BERT-base: LCQMC's real cells
    (Table 2) miss speed 0.1 (1.68x) and 0.5 (2.63 points lost), and meet 0.8 (6.57x)."""
    from chinese_records import render_summary

    (tmp_path / "t2.tsv").write_text("dataset\tmodel\taccuracy\tflops_millions\tspeedup\n"
                                     "LCQMC\tBERT\t86.68\t21785\t1.00\n"
                                     "LCQMC\tFastBERT (speed=0.1)\t86.59\t12930\t1.68\n"
                                     "LCQMC\tFastBERT (speed=0.5)\t84.05\t6352\t3.42\n"
                                     "LCQMC\tFastBERT (speed=0.8)\t77.45\t3310\t6.57\n", encoding="utf-8")
    ours = _record("lcqmc-12l", "LCQMC", 12, 0.90, {0.1: (0.897, 2.1), 0.5: (0.885, 4.2), 0.8: (0.85, 5.5)})
    line = render_summary([ours], load_paper_table(tmp_path / "t2.tsv")).splitlines()[-1]
    cols = line.strip("| ").split(" | ")
    assert cols[-2:] == ["met / met / met", "**missed** / **missed** / met"]
    # and a paper row whose drop is exactly 2 points at 4x passes, as ours do
    (tmp_path / "t2.tsv").write_text((tmp_path / "t2.tsv").read_text(encoding="utf-8")
                                     .replace("84.05\t6352\t3.42", "84.68\t6352\t4.00"), encoding="utf-8")
    line = render_summary([ours], load_paper_table(tmp_path / "t2.tsv")).splitlines()[-1]
    assert line.strip("| ").split(" | ")[-1] == "**missed** / met / met"


def test_no_calibration_measures_the_raw_exits_of_a_calibrated_model(tmp_path, model, data_root):
    from fastbert.evaluate import all_layer_outputs
    from fastbert.model import FastBert

    calibrated = tmp_path / "calibrated"
    model.save_pretrained(calibrated)
    loaded = FastBert.from_pretrained(calibrated)
    loaded.config.temperatures = [3.0] * loaded.num_layers
    loaded.save_pretrained(calibrated)
    raw = chinese_report.measure_section("chnsenticorp-r", str(calibrated), [], str(data_root), calibrated=False)
    cal = chinese_report.measure_section("chnsenticorp-c", str(calibrated), [], str(data_root))
    assert (raw.calibrated, cal.calibrated) == (False, True)
    data = chinese_report.dev_data("chnsenticorp", str(data_root))
    expected = chinese_report.exit_figures(loaded, all_layer_outputs(loaded, data, calibrated=False))
    assert raw.exits == expected and raw.exits != cal.exits


def test_twelve_layer_sections_come_first(tmp_path):
    write_paper_table(tmp_path / "t2.tsv")
    store = tmp_path / "chinese.json"
    shallow = _record("chnsenticorp", "ChnSentiCorp", 4, 0.86, {0.1: (0.86, 1.0), 0.5: (0.86, 2.0), 0.8: (0.85, 3.0)})
    deep = _record("lcqmc-12l", "LCQMC", 12, 0.9, {0.1: (0.9, 2.0), 0.5: (0.9, 4.0), 0.8: (0.9, 5.0)})
    store.write_text(json.dumps({"sections": [shallow.to_dict(), deep.to_dict()], "backbones": []}), encoding="utf-8")
    out = tmp_path / "out.md"
    chinese_report.main(["--paper-table", str(tmp_path / "t2.tsv"), "--previous", str(store), "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert text.index("### LCQMC") < text.index("### ChnSentiCorp") and "## Summary: every dataset at 12 layers" in text


def test_rename_keeps_a_stored_section_beside_a_new_one_under_its_key(tmp_path, capsys):
    write_paper_table(tmp_path / "t2.tsv")
    store = tmp_path / "chinese.json"
    old = _record("chnsenticorp-12l", "ChnSentiCorp", 12, 0.8975, {0.1: (0.8975, 1.0), 0.5: (0.90, 2.9), 0.8: (0.89, 5.6)})
    newer = _record("chnsenticorp-12l", "ChnSentiCorp", 12, 0.9208, {0.1: (0.918, 1.3), 0.5: (0.90, 6.0), 0.8: (0.88, 8.8)})
    lcqmc = _record("lcqmc-12l", "LCQMC", 12, 0.9, {0.1: (0.9, 2.0), 0.5: (0.9, 4.0), 0.8: (0.9, 5.0)})
    store.write_text(json.dumps({"sections": [old.to_dict(), lcqmc.to_dict()], "backbones": []}), encoding="utf-8")
    store2 = tmp_path / "newer.json"  # stands in for a fresh measurement under the old key
    store2.write_text(json.dumps({"sections": [newer.to_dict(), lcqmc.to_dict()], "backbones": []}), encoding="utf-8")
    common = ["--paper-table", str(tmp_path / "t2.tsv"), "--previous", str(store)]
    out = tmp_path / "out.md"
    kept, _ = chinese_report.load_previous(str(store), [])
    chinese_report.rename_kept(kept, [("chnsenticorp-12l", "chnsenticorp-12l1")])
    sections = chinese_report.place_renamed(chinese_report.merge(kept, [newer], key=lambda s: s.key),
                                            [("chnsenticorp-12l", "chnsenticorp-12l1")])
    assert [s.key for s in sections] == ["chnsenticorp-12l", "chnsenticorp-12l1", "lcqmc-12l"]
    assert sections[0] is newer and sections[1].table == old.table
    chinese_report.main(common + ["--out", str(out), "--rename", "chnsenticorp-12l=chnsenticorp-12l1",
                                  "--title", "chnsenticorp-12l1=ChnSentiCorp, the earlier model",
                                  "--note", "chnsenticorp-12l1=Shipped before; rows kept."])
    text = out.read_text(encoding="utf-8")
    assert "### ChnSentiCorp, the earlier model: 10 dev rows\n\nShipped before; rows kept.\n\n| row |" in text
    stored = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["sections"]
    assert [(s["key"], s["note"]) for s in stored] == [("chnsenticorp-12l1", "Shipped before; rows kept."),
                                                        ("lcqmc-12l", "")]
    for bad, match in (("chnsenticorp-x=chnsenticorp-y", "no stored section"),
                       ("chnsenticorp-12l=lcqmc-12l", "taken or is another dataset")):
        with pytest.raises(SystemExit, match=match):
            chinese_report.main(common + ["--out", str(out), "--rename", bad])
    with pytest.raises(SystemExit):
        chinese_report.main(["--paper-table", str(tmp_path / "t2.tsv"), "--model", "chnsenticorp=x",
                             "--rename", "chnsenticorp=chnsenticorp-a"])
    assert "--keep and --rename need --previous FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--note lcqmc-x: no such section"):
        chinese_report.main(common + ["--out", str(out), "--note", "lcqmc-x=t"])


def test_add_baseline_measures_into_a_stored_section_as_a_fresh_run_would(tmp_path, data_root, model):
    """A static baseline added to a stored section whose model is gone gives the row (and the
    static rows' order) that measuring the section with that baseline gives."""
    import shutil

    from tiny import tiny_model

    write_paper_table(tmp_path / "t2.tsv")
    mine, one, three = tmp_path / "mine", tmp_path / "static1", tmp_path / "static3"
    model.save_pretrained(mine)
    tiny_model(tmp_path / "t1", seed=2, layers=1).save_pretrained(one)
    tiny_model(tmp_path / "t3", seed=3, layers=3).save_pretrained(three)
    common = ["--paper-table", str(tmp_path / "t2.tsv"), "--data-root", str(data_root)]
    both, only3 = tmp_path / "both.md", tmp_path / "only3.md"
    chinese_report.main(common + ["--out", str(both), "--model", f"chnsenticorp={mine}",
                                  "--baseline", f"chnsenticorp={three}", "--baseline", f"chnsenticorp={one}"])
    chinese_report.main(common + ["--out", str(only3), "--model", f"chnsenticorp={mine}",
                                  "--baseline", f"chnsenticorp={three}"])
    shutil.rmtree(mine)  # the section's model is gone; its baseline rows can still be added
    added = tmp_path / "added.md"
    chinese_report.main(common + ["--out", str(added), "--previous", str(only3.with_suffix(".json")),
                                  "--add-baseline", f"chnsenticorp={one}"])
    fresh, grown = (json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))["sections"][0] for p in (both, added))
    assert [r["name"] for r in grown["table"]] == [r["name"] for r in fresh["table"]]
    assert grown["table"] == fresh["table"] and grown["baselines"] == fresh["baselines"]
    assert [m["what"] for m in grown["measured_by"]] == ["every figure", "the 1-layer static baseline"]
    assert "Static: first 1 layer + classifier, fine-tuned" in added.read_text(encoding="utf-8")
    with pytest.raises(SystemExit, match="already has a 1-layer baseline"):
        chinese_report.main(common + ["--out", str(tmp_path / "x.md"), "--previous", str(added.with_suffix(".json")),
                                      "--add-baseline", f"chnsenticorp={one}"])


def test_a_compared_model_lists_every_command_that_made_it(tmp_path, tiny_model_dir, data_root, model):
    chain = ["python -m fastbert train --out x-ft --stages finetune",
             "python -m fastbert train --init x-ft --out x --stages distill"]
    model.save_pretrained(tmp_path / "x", metadata={"command": chain[-1], "commands": chain})
    write_paper_table(tmp_path / "t2.tsv")
    paper = load_paper_table(tmp_path / "t2.tsv")
    rec = chinese_report.measure_section("chnsenticorp-tiny", str(tiny_model_dir), [], str(data_root),
                                         compare_dirs=[str(tmp_path / "x")], title="ChnSentiCorp, tiny")
    text = render_section(rec, paper)
    compared = text[text.index("Compared"):]
    made_by = compared.split(f"`{tmp_path / 'x'}` was made by:")[1]
    assert [line.strip() for line in made_by.strip().splitlines()] == chain
    stored = SectionRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert render_section(stored, paper) == text
    # a record kept before the chain was stored still renders its one command
    old = json.loads(json.dumps(rec.to_dict()))
    old["compared"][0] = {**{k: v for k, v in old["compared"][0].items() if k != "commands"}, "command": chain[-1]}
    assert render_section(SectionRecord.from_dict(old), paper).endswith(f"    {chain[-1]}\n")
