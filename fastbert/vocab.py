"""Vocabularies built from a corpus: one token per character (Chinese) or WordPiece (other text).

Both kinds use BERT's own text pipeline from the `tokenizers` library (BertNormalizer, which
puts spaces around CJK characters, then BertPreTokenizer, which splits on spaces and
punctuation), so the vocabulary is counted exactly as the tokenizer will later cut the text.
The result is a `BertTokenizerFast` that `save_pretrained` / `AutoTokenizer` handle as usual.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece
from tokenizers.trainers import WordPieceTrainer
from transformers import BertTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCAB_KINDS = ("auto", "char", "wordpiece")
PREFIX = "##"  # WordPiece's mark for a piece that continues a word


@dataclass
class VocabConfig:
    """How to build a vocabulary. Example: `VocabConfig(kind="char", min_frequency=2)`.

    kind: "char" (every character its own token; for Chinese), "wordpiece" (subwords; for
    other text) or "auto" (char when CJK characters make up most of the letters).
    vocab_size: WordPiece's target size (ignored for "char", whose size is the alphabet's).
    lowercase: None means False for "char" (so that decoding gives the text back) and True
    for "wordpiece" (like uncased BERT).
    """

    kind: str = "auto"
    vocab_size: int = 8000
    min_frequency: int = 1
    lowercase: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in VOCAB_KINDS:
            raise ValueError(f"kind: one of {VOCAB_KINDS}, got {self.kind!r}")
        if self.vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size: must exceed {len(SPECIAL_TOKENS)}, got {self.vocab_size}")
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency: must be at least 1, got {self.min_frequency}")


def is_cjk(char: str) -> bool:
    """True for a CJK ideograph (the code point blocks BERT treats as Chinese characters)."""
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def cjk_share(texts: Iterable[str]) -> float:
    """Share of CJK ideographs among the letters (alphabetic characters) of `texts`."""
    letters = cjk = 0
    for text in texts:
        for ch in text:
            if ch.isalpha():
                letters += 1
                cjk += is_cjk(ch)
    return cjk / letters if letters else 0.0


def resolve_kind(config: VocabConfig, texts: list[str]) -> VocabConfig:
    """The config with kind and lowercase decided ("auto" and None resolved)."""
    kind = config.kind
    if kind == "auto":
        kind = "char" if cjk_share(texts) > 0.5 else "wordpiece"
    lowercase = config.lowercase if config.lowercase is not None else kind == "wordpiece"
    return VocabConfig(kind, config.vocab_size, config.min_frequency, lowercase)


def _bert_pipeline(lowercase: bool) -> tuple[normalizers.Normalizer, pre_tokenizers.PreTokenizer]:
    # strip_accents follows lowercase, as in BERT; without lowercasing nothing is altered,
    # so that decoding gives back the text (up to spaces).
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                            strip_accents=lowercase, lowercase=lowercase)
    return normalizer, pre_tokenizers.BertPreTokenizer()


def char_vocab(texts: Iterable[str], min_frequency: int = 1, lowercase: bool = False) -> list[str]:
    """Special tokens, then every character seen at least `min_frequency` times, most frequent
    first (ties in code point order). A character that continues a non-CJK word (the `b` of `ab`, the `5` of `15`) also
    gets its `##` form, so that Latin words and numbers are spelled out character by character.

    Example:
        >>> char_vocab(["好的 ok"])
        ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '##k', 'o', '好', '的']
    """
    normalizer, pre = _bert_pipeline(lowercase)
    counts: Counter[str] = Counter()
    for text in texts:
        for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word[0]] += 1
            counts.update(PREFIX + ch for ch in word[1:])
    kept = sorted((t for t, c in counts.items() if c >= min_frequency and t not in SPECIAL_TOKENS),
                  key=lambda t: (-counts[t], t))
    return list(SPECIAL_TOKENS) + kept


def wordpiece_vocab(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 1,
                    lowercase: bool = True) -> list[str]:
    """A WordPiece vocabulary trained by the `tokenizers` library; special tokens first."""
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]", continuing_subword_prefix=PREFIX))
    tokenizer.normalizer, tokenizer.pre_tokenizer = _bert_pipeline(lowercase)
    trainer = WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                               special_tokens=list(SPECIAL_TOKENS), continuing_subword_prefix=PREFIX,
                               show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    vocab = tokenizer.get_vocab()
    return sorted(vocab, key=vocab.__getitem__)


def build_tokenizer(texts: list[str], config: VocabConfig = VocabConfig(),
                    max_length: int = 128) -> BertTokenizerFast:
    """A BERT tokenizer whose vocabulary is learnt from `texts`.

    Example:
        >>> tok = build_tokenizer(["今天天气很好", "服务一般"], VocabConfig(kind="char"))
        >>> tok.convert_ids_to_tokens(tok("天气")["input_ids"])
        ['[CLS]', '天', '气', '[SEP]']
    """
    config = resolve_kind(config, texts)
    if config.kind == "char":
        tokens = char_vocab(texts, config.min_frequency, config.lowercase)
    else:
        tokens = wordpiece_vocab(texts, config.vocab_size, config.min_frequency, config.lowercase)
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=config.lowercase,
                             strip_accents=config.lowercase, tokenize_chinese_chars=True,
                             model_max_length=max_length)
