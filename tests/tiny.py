"""A tiny, seeded, random FastBERT (hidden 32, 3 layers, vocab of a few dozen words) for tests.

No network and no pretrained weights: the tokenizer is built from a word list here.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, BertTokenizerFast

from fastbert.backbone import LayerwiseEncoder
from fastbert.config import FastBertConfig
from fastbert.model import FastBert

WORDS = ("good great fine bad awful boring film movie plot actors was is the a and not very "
         "but it really story ending loved hated cast music dull fun").split()


# Texts the tests classify: short, long, negated, mixed, repeated, unknown words.
TEXTS = ("good film", "the plot was very boring and the actors were awful", "not bad",
         "loved the music but hated the ending", "fun", "a great cast and a fine story really",
         "it is the movie", "dull dull dull", "xyz qq")


def tiny_tokenizer(directory: Path) -> BertTokenizerFast:
    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz.,!?'")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), do_lower_case=True)


def tiny_backbone_config(model_type: str = "bert", **overrides):
    kwargs = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37,
                  vocab_size=99, max_position_embeddings=64, type_vocab_size=2)
    if model_type == "roberta":
        kwargs.update(pad_token_id=0, type_vocab_size=1, max_position_embeddings=70)
    kwargs.update(overrides)
    return AutoConfig.for_model(model_type, **kwargs)


def tiny_model(tmp_dir: Path, model_type: str = "bert", labels=("negative", "positive"), seed: int = 0,
               layers: int = 3, **config_kwargs) -> FastBert:
    """A seeded random FastBERT on a tiny BERT (or RoBERTa) encoder of `layers` layers."""
    torch.manual_seed(seed)
    encoder = LayerwiseEncoder.from_config(tiny_backbone_config(model_type, num_hidden_layers=layers))
    config = FastBertConfig(backbone=f"tiny-{model_type}", labels=list(labels), classifier_width=16,
                            classifier_heads=2, max_length=48, **config_kwargs)
    model = FastBert(config, encoder, tiny_tokenizer(tmp_dir / "tokenizer"))
    # Random students are nearly uniform; sharpen them so that samples exit at varied layers.
    with torch.no_grad():
        for clf in model.classifiers:
            clf.out.weight.mul_(40.0)
    return model.eval()
