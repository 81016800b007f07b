"""The pieces of masked-language-model pre-training: the corpus, its token windows, the model,
and the masked-LM loss (see `pretrain.py` for the stage that trains with them)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from ..backbone import quiet_transformers
from ..data import TextDataset, load_dataset

if TYPE_CHECKING:
    from .pretrain import PretrainConfig

Text = str | tuple[str, str]


# ----- corpus --------------------------------------------------------------------------------
def read_texts(path: str, text_columns: Sequence[str] | None = None) -> TextDataset:
    """Texts (no labels) of one corpus file: a file of lines, or a data file's text columns.

    Read as `train` reads it (the label column found as usual, then dropped), so that a
    `hold_out` split is the same rows as `train --dev-fraction`'s.
    """
    if path.endswith(".txt"):
        return load_dataset(path, fmt="txt", unlabeled=True)
    data = load_dataset(path, text_columns=text_columns)
    return TextDataset(data.texts, None, data.source)


def _flat(texts: Sequence[Text]) -> list[str]:
    return [s for t in texts for s in (t if isinstance(t, tuple) else (t,))]


def read_corpus(cfg: PretrainConfig) -> tuple[list[Text], list[dict]]:
    """All corpus texts (deduplicated, excluded texts removed) and a per-file summary."""
    excluded = {s for path in cfg.exclude for s in _flat(read_texts(path, cfg.text_columns).texts)}
    seen: set[Text] = set()
    texts: list[Text] = []
    summary = []
    for path in cfg.corpus:
        data = read_texts(path, cfg.text_columns)
        rows = len(data)
        if path in cfg.hold_out:
            data, _ = data.split(cfg.hold_out[path], cfg.seed)
        kept = []
        for t in data.texts:
            if t and t not in seen and not any(s in excluded for s in _flat([t])):
                kept.append(t)
                seen.add(t)
        texts += kept
        summary.append({"path": path, "rows": rows, "used": len(kept),
                        "held_out_fraction": cfg.hold_out.get(path)})
    unknown = set(cfg.hold_out) - set(cfg.corpus)
    if unknown:
        raise ValueError(f"hold_out: {sorted(unknown)} are not corpus files")
    if not texts:
        raise ValueError("corpus: no texts left")
    return texts, summary


def encode(tokenizer, texts: Sequence[Text], max_length: int) -> list[dict]:
    """Token windows for masked-LM: a long text becomes several windows of `max_length`
    (nothing is cut away); a sentence pair is one window, truncated longest-first."""
    singles = [t for t in texts if isinstance(t, str)]
    pairs = [t for t in texts if isinstance(t, tuple)]
    keys = ("input_ids", "token_type_ids", "special_tokens_mask")
    features = []
    if singles:
        enc = tokenizer(singles, truncation=True, max_length=max_length, return_overflowing_tokens=True,
                        return_special_tokens_mask=True)
        features += [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]
    if pairs:
        enc = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation="longest_first",
                        max_length=max_length, return_special_tokens_mask=True)
        features += [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]
    return features


# ----- model ---------------------------------------------------------------------------------
def build_model(cfg: PretrainConfig, tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                        num_attention_heads=cfg.heads, intermediate_size=cfg.ffn,
                        max_position_embeddings=cfg.max_length, type_vocab_size=2,
                        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(cfg.seed)
    return BertForMaskedLM(config)


def load_model(path: str):
    """A masked-LM model this command saved (to continue pre-training it)."""
    from transformers import BertForMaskedLM

    with quiet_transformers():
        return BertForMaskedLM.from_pretrained(path)


def _collate(collator, features: list[dict], rows: Sequence[int], seed: int):
    # The masks come from the global generator (the collator has no seed), seeded per batch:
    # the same step always masks the same way, whether or not the run was resumed.
    torch.manual_seed(seed)
    return collator([dict(features[r]) for r in rows])


def unigram_loss(train: list[dict], held_out: list[dict], vocab_size: int) -> float:
    """Cross-entropy on the held-out tokens of a model that ignores context and predicts the
    training frequencies (add-one smoothed): the plateau a masked LM first reaches. An MLM loss
    below it means the encoder uses the context; near it, it has not yet learnt to.

    Example (p(5) = (2 + 1) / (3 + 7)):
        >>> round(unigram_loss([{"input_ids": [5, 5, 6], "special_tokens_mask": [0, 0, 0]}],
        ...                    [{"input_ids": [5], "special_tokens_mask": [0]}], vocab_size=7), 3)
        1.204
    """
    counts = torch.ones(vocab_size, dtype=torch.float64)
    for f in train:
        ids = torch.tensor([i for i, s in zip(f["input_ids"], f["special_tokens_mask"]) if not s], dtype=torch.long)
        counts += torch.bincount(ids, minlength=vocab_size).double()
    log_p = (counts / counts.sum()).log()
    ids = [i for f in held_out for i, s in zip(f["input_ids"], f["special_tokens_mask"]) if not s]
    return -log_p[torch.tensor(ids, dtype=torch.long)].mean().item() if ids else float("nan")


def masked_lm_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over the masked tokens of `batch`, and their number.

    The same loss as `BertForMaskedLM(**batch).loss`, but the prediction head (a projection
    onto the whole vocabulary) runs on the masked positions only, not on every token: with
    15% masked that is most of the head's cost saved, which on a CPU is a good share of a step.
    """
    labels = batch["labels"]
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                        token_type_ids=batch.get("token_type_ids"))[0]
    picked = labels != -100
    n = int(picked.sum())
    if not n:
        return hidden.sum() * 0.0, 0
    logits = model.cls(hidden[picked])
    return torch.nn.functional.cross_entropy(logits.float(), labels[picked]), n


@torch.no_grad()
def mlm_loss(model, collator, features: list[dict], batch_size: int, seed: int = 1234) -> float:
    """Mean masked-LM loss over `features`, with fixed masks (comparable across a run)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(features)), key=lambda r: len(features[r]["input_ids"]))
    for k in range(0, len(order), batch_size):
        loss, n = masked_lm_loss(model, _collate(collator, features, order[k:k + batch_size], seed + k))
        total += loss.item() * n
        count += n
    model.train(was_training)
    return total / count if count else float("nan")
