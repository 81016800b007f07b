"""Vocabulary builders: coverage of the corpus, round trips, and the saved tokenizer."""
import pytest
from transformers import AutoTokenizer

from fastbert.vocab import SPECIAL_TOKENS, VocabConfig, build_tokenizer, char_vocab, cjk_share, resolve_kind

ZH = ["这家酒店的服务很好，房间也很干净！", "屏幕15.4寸，键盘手感不错；电池续航约3小时。",
      "Windows XP 装不上驱动，只能退货了……", "物流太慢了，等了一周才到（差评）",
      "《红楼梦》值得一读再读", "价格￥199，性价比高 OK"]
EN = ["The plot was dull and the actors were awful.", "A great cast, a fine story; really fun!",
      "I loved the music but hated the ending.", "Not bad at all: 8/10 from me."] * 3


def _squash(text: str) -> str:
    return "".join(text.split())


def test_char_vocab_covers_every_character_of_the_corpus():
    vocab = set(char_vocab(ZH))
    for ch in _squash("".join(ZH)):
        assert ch in vocab or "##" + ch in vocab, ch
    tok = build_tokenizer(ZH, VocabConfig(kind="char"))
    for text in ZH:
        assert tok.unk_token_id not in tok(text)["input_ids"]


def test_chinese_is_one_token_per_character():
    tok = build_tokenizer(ZH, VocabConfig(kind="char"))
    text = "酒店服务很好"
    assert tok.tokenize(text) == list(text)
    # Latin words and numbers are spelled out too, with WordPiece's continuation mark.
    assert tok.tokenize("XP 15") == ["X", "##P", "1", "##5"]


@pytest.mark.parametrize("text", ZH)
def test_char_tokenizer_round_trips_text_up_to_spaces(text):
    tok = build_tokenizer(ZH, VocabConfig(kind="char"))
    ids = tok(text)["input_ids"]
    assert _squash(tok.decode(ids, skip_special_tokens=True)) == _squash(text)


def test_rare_characters_drop_out_with_min_frequency():
    common = char_vocab(ZH, min_frequency=2)
    everything = char_vocab(ZH, min_frequency=1)
    assert set(common) < set(everything)
    assert "很" in common and "梦" not in common  # 很 appears 3 times, 梦 once
    assert common[:len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    tok = build_tokenizer(ZH, VocabConfig(kind="char", min_frequency=2))
    assert tok.unk_token_id in tok("红楼梦")["input_ids"]


def test_wordpiece_covers_and_round_trips_english():
    tok = build_tokenizer(EN, VocabConfig(kind="wordpiece", vocab_size=120))
    assert len(tok) <= 120
    for text in EN:
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids
        assert _squash(tok.decode(ids, skip_special_tokens=True)) == _squash(text.lower())
    # Frequent words become whole tokens: it is a subword vocabulary, not characters.
    assert "the" in tok.get_vocab()


def test_auto_picks_characters_for_chinese_and_wordpiece_otherwise():
    assert cjk_share(ZH) > 0.5 > cjk_share(EN)
    assert resolve_kind(VocabConfig(), ZH).kind == "char"
    assert resolve_kind(VocabConfig(), ZH).lowercase is False
    assert resolve_kind(VocabConfig(), EN).kind == "wordpiece"


def test_saved_tokenizer_reloads_with_the_same_ids(tmp_path):
    tok = build_tokenizer(ZH, VocabConfig(kind="char"), max_length=64)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.get_vocab() == tok.get_vocab()
    for text in ZH:
        assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again("甲", "乙")["token_type_ids"] == [0, 0, 0, 1, 1]


def test_config_names_the_bad_field():
    with pytest.raises(ValueError, match="kind"):
        VocabConfig(kind="bytes")
    with pytest.raises(ValueError, match="min_frequency"):
        VocabConfig(min_frequency=0)
