"""Tokenizing for inference: once per text, bounded work, safe from many threads at once.

`FastBert.tokenize` needs, for every text, the ids the model reads (truncated to `max_length`)
and how many tokens the whole text has. Asking a transformers tokenizer for both means two
passes over the text, one of them untruncated: seconds and gigabytes for a 10 MB text.
Here each text is tokenized once, by a private copy of the fast tokenizer's `tokenizers`
backend that is configured once and never changed (so threads can share it), and only a
prefix of a long text is read:

- The prefix is `max_length * CHARS_PER_TOKEN` characters. If it holds too few tokens (text
  made mostly of spaces, say), it is read again up to `max_length * MAX_CHARS_PER_TOKEN`
  characters; nothing past that is read.
- The ids are exactly what `tokenizer(text, truncation=True, max_length=...)` gives whenever
  the prefix holds at least `max_length` tokens of complete words (the last word of a prefix
  may be cut, so its tokens are not counted). Sentence pairs read the longest prefix at once:
  which half of a pair loses tokens depends on which is longer, so a pair can differ from
  the tokenizer's only when a half is longer than `max_length * MAX_CHARS_PER_TOKEN`.
- A text cut this way reports an estimate of its token count (the prefix's tokens per
  character times its length) and says so in `input_tokens_estimated`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Text = str | tuple[str, str]
CHARS_PER_TOKEN = 8  # the first prefix: enough for English or Chinese at max_length tokens
MAX_CHARS_PER_TOKEN = 64  # the longest prefix; past it a text is not read at all


@dataclass
class _Side:
    """One text of a row (or one half of a pair), as far as it was read."""

    encoding: object  # tokenizers.Encoding, content tokens only
    read_chars: int
    total_chars: int

    @property
    def cut(self) -> bool:
        return self.read_chars < self.total_chars

    def safe_tokens(self) -> int:
        """Tokens that a longer prefix would not change: all but the cut last word's."""
        if not self.cut:
            return len(self.encoding.ids)
        words = self.encoding.word_ids
        last = max((w for w in words if w is not None), default=None)
        return sum(1 for w in words if w is not None and w != last)

    def estimated_tokens(self) -> int:
        n = len(self.encoding.ids)
        return n if not self.cut else max(n, round(n * self.total_chars / max(1, self.read_chars)))


class TextEncoder:
    """`encode(texts)` -> {"input_ids", "token_type_ids", "attention_mask", "input_tokens",
    "input_tokens_estimated"} (lists, one entry per text, no padding).

    Example:
        >>> enc = TextEncoder(model.tokenizer, 128).encode(["a fine film"])   # doctest: +SKIP
        >>> enc["input_tokens"]                                                # doctest: +SKIP
        [5]
    """

    def __init__(self, tokenizer, max_length: int):
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer (no backend_tokenizer)")
        self.max_length = max_length
        self.source = tokenizer
        # Two private copies, each set up once: one splits text into tokens, one truncates and
        # adds the special tokens exactly as the tokenizer would with truncation=True.
        self._split = Tokenizer.from_str(backend.to_str())
        self._split.no_truncation()
        self._split.no_padding()
        self._finish = Tokenizer.from_str(backend.to_str())
        self._finish.enable_truncation(max_length=max_length, stride=0, strategy="longest_first",
                                       direction=tokenizer.truncation_side)
        self._finish.no_padding()
        self._cut_right = tokenizer.truncation_side == "right"
        self._specials = (tokenizer.num_special_tokens_to_add(pair=False),
                          tokenizer.num_special_tokens_to_add(pair=True))

    def _read(self, texts: list[str], pairs: bool) -> list[_Side]:
        """Each text's tokens, read from a prefix as long as needed (see the module doc)."""
        sides: list[_Side | None] = [None] * len(texts)
        todo = list(range(len(texts)))
        # A pair's truncation depends on which half is longer, so pairs read the longest prefix.
        for per_token in (MAX_CHARS_PER_TOKEN,) if pairs else (CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN):
            limit = self.max_length * per_token
            cuts = [_prefix(texts[i], limit) if self._cut_right else texts[i] for i in todo]
            for i, cut, enc in zip(todo, cuts, self._split.encode_batch(cuts, add_special_tokens=False)):
                sides[i] = _Side(enc, len(cut), len(texts[i]))
            todo = [i for i in todo if sides[i].cut and sides[i].safe_tokens() < self.max_length]
            if not todo:
                break
        return sides  # type: ignore[return-value]

    def encode(self, texts: Sequence[Text]) -> dict:
        pairs = bool(texts) and isinstance(texts[0], tuple)
        firsts = self._read([t[0] if pairs else t for t in texts], pairs)
        seconds = self._read([t[1] for t in texts], pairs) if pairs else [None] * len(firsts)
        out: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": [],
                                "input_tokens": [], "input_tokens_estimated": []}
        special = self._specials[1 if pairs else 0]
        for a, b in zip(firsts, seconds):
            done = self._finish.post_process(a.encoding, b.encoding if b else None, add_special_tokens=True)
            out["input_ids"].append(done.ids)
            out["token_type_ids"].append(done.type_ids)
            out["attention_mask"].append(done.attention_mask)
            out["input_tokens"].append(special + sum(s.estimated_tokens() for s in (a, b) if s))
            out["input_tokens_estimated"].append(any(s.cut for s in (a, b) if s))
        return out


def _prefix(text: str, limit: int) -> str:
    """The first `limit` characters, ended at a space where one is near the end."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", limit - limit // 8, limit)
    return text[:space] if space > 0 else text[:limit]
