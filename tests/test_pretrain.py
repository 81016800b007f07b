"""Masked-LM pre-training: the loss falls, resuming equals not stopping, and the result is a
backbone that FastBERT loads and trains."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertForMaskedLM

from fastbert.backbone import LayerwiseEncoder
from fastbert.data import load_dataset
from fastbert.model import FastBert
from fastbert.training.pretrain import (CHECKPOINT, PretrainConfig, build_model, encode, masked_lm_loss, pretrain,
                               read_corpus, unigram_loss)
from fastbert.training import TrainConfig, train
from fastbert.vocab import VocabConfig

CORPUS = ["这家酒店的服务很好，房间也很干净。", "房间太小了，服务也很差，不会再来。",
          "这本书写得很好，值得一读。", "快递很快，东西也不错，很满意。", "质量太差了，用了两天就坏了。",
          "价格便宜，味道很好，下次还来。", "书的内容很一般，不推荐。", "酒店位置很好，早餐也不错。"]


def _corpus_file(tmp_path, rows=CORPUS * 4):
    path = tmp_path / "corpus.tsv"
    path.write_text("label\ttext_a\n" + "".join(f"{i % 2}\t{t}\n" for i, t in enumerate(rows)),
                    encoding="utf-8")
    return path


def _tiny_cfg(tmp_path, out="bert", **kw):
    corpus = _corpus_file(tmp_path)
    kw = dict(corpus=[str(corpus)], out=str(tmp_path / out), vocab=VocabConfig(kind="char"),
              layers=2, hidden=32, heads=2, ffn=64, max_length=32, batch_size=8, lr=3e-3,
              max_steps=30, eval_fraction=0.0, save_every=10, progress=False) | kw
    return PretrainConfig(**kw)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain")
    cfg = _tiny_cfg(tmp, eval_fraction=0.25, max_steps=80, save_every=20)
    return cfg, pretrain(cfg)


def test_pretraining_lowers_the_held_out_mlm_loss(pretrained):
    cfg, result = pretrained
    assert result.steps == 80
    assert result.eval_loss < result.eval_loss_initial - 0.5
    losses = [e["eval_loss"] for e in result.log]
    assert losses[-1] < losses[0]


def test_record_compares_the_loss_with_the_unigram_plateau(pretrained):
    cfg, result = pretrained
    record = json.loads((Path(cfg.out) / "pretrain.json").read_text())
    unigram = record["eval_unigram_loss"]
    assert unigram > 0
    assert all(e["below_unigram"] == pytest.approx(unigram - e["eval_loss"]) for e in result.log)


def test_unigram_loss_is_the_cross_entropy_of_training_frequencies():
    train = [{"input_ids": [2, 5, 5, 6, 3], "special_tokens_mask": [1, 0, 0, 0, 1]}]
    held = [{"input_ids": [2, 5, 6, 3], "special_tokens_mask": [1, 0, 0, 1]}]
    p5, p6 = 3 / 11, 2 / 11  # add-one counts over 8 ids: 5 -> 3, 6 -> 2, 3 tokens + 8
    expected = -(torch.log(torch.tensor(p5)) + torch.log(torch.tensor(p6))).item() / 2
    assert unigram_loss(train, held, vocab_size=8) == pytest.approx(expected)


def test_masked_lm_loss_equals_the_full_head_loss(tmp_path):
    """The head on masked positions only gives BertForMaskedLM's own loss, and the same gradients."""
    from transformers import DataCollatorForLanguageModeling
    from fastbert.vocab import build_tokenizer

    cfg = _tiny_cfg(tmp_path)
    tokenizer = build_tokenizer(CORPUS, cfg.vocab, cfg.max_length)
    model = build_model(cfg, tokenizer).eval()
    torch.manual_seed(3)
    batch = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.3)(
        [dict(f) for f in encode(tokenizer, CORPUS, cfg.max_length)])
    ours, n = masked_lm_loss(model, batch)
    assert n == int((batch["labels"] != -100).sum()) > 0
    ours.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    full = model(**batch).loss
    full.backward()
    torch.testing.assert_close(ours, full)
    for a, p in zip(grads, model.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_output_is_a_backbone_that_fastbert_loads_and_trains(pretrained, tmp_path):
    cfg, result = pretrained
    encoder = LayerwiseEncoder.from_pretrained(cfg.out)
    assert encoder.num_layers == cfg.layers and encoder.hidden_size == cfg.hidden
    tokenizer = AutoTokenizer.from_pretrained(cfg.out)
    assert len(tokenizer) == result.vocab_size == encoder.config.vocab_size
    assert not (Path(cfg.out) / CHECKPOINT).exists()
    assert json.loads((Path(cfg.out) / "pretrain.json").read_text())["steps"] == 80

    # The encoder holds the pre-trained weights, not a fresh initialisation.
    mlm = BertForMaskedLM.from_pretrained(cfg.out)
    for name, weight in encoder.model.named_parameters():
        assert torch.equal(weight, mlm.bert.get_parameter(name)), name

    backbone = tmp_path / "backbone"
    shutil.copytree(cfg.out, backbone)
    data = load_dataset(_corpus_file(tmp_path, CORPUS * 2))
    model = FastBert.from_backbone(str(backbone), ["0", "1"], max_length=32, classifier_width=16,
                                   classifier_heads=2)
    before = [p.detach().clone() for p in model.encoder.parameters()]
    train(model, TrainConfig(stage="finetune", epochs=1, batch_size=8, lr=1e-3, progress=False), data)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.encoder.parameters()))
    students = [p.detach().clone() for p in model.students.parameters()]
    train(model, TrainConfig(stage="distill", epochs=1, batch_size=8, lr=1e-3, progress=False), data)
    assert any(not torch.equal(a, b) for a, b in zip(students, model.students.parameters()))

    # Saved, then loaded with the backbone directory gone: config.json is enough to rebuild it.
    model.save_pretrained(tmp_path / "fastbert")
    shutil.rmtree(backbone)
    again = FastBert.from_pretrained(tmp_path / "fastbert")
    texts = CORPUS[:4]
    for a, b in zip(again.predict(texts, speed=0.0), model.predict(texts, speed=0.0)):
        assert a.probs == pytest.approx(b.probs, abs=1e-6)


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    straight = _tiny_cfg(tmp_path, out="straight", max_steps=12, save_every=4)
    pretrain(straight)

    cut = _tiny_cfg(tmp_path, out="cut", max_steps=12, save_every=4)

    def interrupt(step, loss):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cut, on_step=interrupt)
    assert (tmp_path / "cut" / CHECKPOINT).is_file()
    with pytest.raises(ValueError, match="--resume"):
        pretrain(cut)  # never silently starts over
    result = pretrain(cut, resume=True)
    assert result.steps == 12

    from safetensors.torch import load_file
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_stop_at_then_resume_with_another_total(tmp_path):
    paused = pretrain(_tiny_cfg(tmp_path, max_steps=12, save_every=5), stop_at=3)
    assert not paused.finished and paused.steps == 3
    assert (tmp_path / "bert" / CHECKPOINT).is_file() and not (tmp_path / "bert" / "config.json").exists()
    seen = []
    result = pretrain(_tiny_cfg(tmp_path, max_steps=6, save_every=5), resume=True,
                      on_step=lambda step, loss: seen.append(step))
    assert seen == [4, 5, 6] and result.finished and result.steps == 6
    # The record says which schedule each part of the run followed.
    assert [(s["start_step"], s["end_step"], s["max_steps"]) for s in result.segments] == [(0, 3, 12), (3, 6, 6)]


def test_resume_refuses_other_model_options(tmp_path):
    cfg = _tiny_cfg(tmp_path, max_steps=4, save_every=2)

    def interrupt(step, loss):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, on_step=interrupt)
    with pytest.raises(ValueError, match="hidden"):
        pretrain(_tiny_cfg(tmp_path, max_steps=4, save_every=2, hidden=64), resume=True)


def test_corpus_drops_labels_excluded_texts_and_held_out_rows(tmp_path):
    corpus = _corpus_file(tmp_path, CORPUS)
    dev = tmp_path / "dev.tsv"
    dev.write_text("label\ttext_a\n1\t" + CORPUS[0] + "\n", encoding="utf-8")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{a}\t{b}\t1\n" for a, b in zip(CORPUS, CORPUS[1:])), encoding="utf-8")
    cfg = PretrainConfig(corpus=[str(corpus), str(pairs)], out=str(tmp_path / "o"), exclude=[str(dev)],
                         hold_out={str(pairs): 0.25})
    texts, summary = read_corpus(cfg)
    assert CORPUS[0] not in texts and set(CORPUS[1:]) <= set(texts)
    assert not any(t in ("0", "1") for t in texts)
    pair_texts = [t for t in texts if isinstance(t, tuple)]
    # The held-out rows are exactly the dev part of the split `train --dev-fraction 0.25` makes.
    _, held = load_dataset(pairs).split(0.25, cfg.seed)
    kept = [t for t in load_dataset(pairs).texts if t not in held.texts and CORPUS[0] not in t]
    assert pair_texts == kept and 0 < len(kept) < len(CORPUS) - 1 - len(held)
    assert summary[1]["used"] == len(pair_texts)


def test_init_continues_a_finished_backbone(pretrained, tmp_path):
    cfg, first = pretrained
    # Other shape options are replaced by the saved backbone's own.
    more = PretrainConfig(**{**cfg.to_dict(), "out": str(tmp_path / "more"), "init": cfg.out, "hidden": 64,
                             "max_steps": 40, "lr": 1e-3}).with_init_shape()
    assert (more.hidden, more.layers) == (cfg.hidden, cfg.layers)
    result = pretrain(more)
    # It starts where the first run ended (same held-out texts, same vocabulary) and goes lower.
    assert result.eval_loss_initial == pytest.approx(first.eval_loss, abs=1e-4)
    assert result.eval_loss < first.eval_loss
    assert (AutoTokenizer.from_pretrained(more.out).get_vocab()
            == AutoTokenizer.from_pretrained(cfg.out).get_vocab())
    with pytest.raises(ValueError, match="another --out"):
        pretrain(PretrainConfig(**{**more.to_dict(), "out": cfg.out}))


def test_the_command_takes_its_options_and_resumes(tmp_path):
    from fastbert.cli import main

    corpus = _corpus_file(tmp_path)
    args = ["pretrain", "--corpus", str(corpus), "--out", str(tmp_path / "bert"), "--vocab", "char",
            "--min-frequency", "1", "--layers", "2", "--hidden", "32", "--heads", "2", "--ffn", "64",
            "--max-length", "32", "--batch-size", "8", "--max-steps", "4", "--save-every", "2", "--quiet",
            "--hold-out", f"{corpus}=0.25", "--threads", "1"]
    assert main(args + ["--stop-at", "2"]) == 0
    assert (tmp_path / "bert" / CHECKPOINT).is_file()
    assert main(args) == 2  # a checkpoint waits: never silently starts over
    assert main(args + ["--resume"]) == 0
    record = json.loads((tmp_path / "bert" / "pretrain.json").read_text())
    assert record["steps"] == 4 and record["config"]["hold_out"] == {str(corpus): 0.25}
    assert record["config"]["layers"] == 2 and record["config"]["vocab"]["kind"] == "char"
    assert [(s["start_step"], s["end_step"]) for s in record["segments"]] == [(0, 2), (2, 4)]
    assert record["command"].startswith("python -m fastbert ")
