"""Data loading: TSV, CSV, JSON lines and text files; columns; labels; clear errors."""
import pytest

from conftest import SHARED_DATA
from fastbert.data import DataError, load_dataset


def test_tsv_with_header_and_spaced_column_name(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text('sentence \tlabel\nit \'s "great\t1\nawful .\t0\n')
    d = load_dataset(f)
    assert d.texts == ['it \'s "great', "awful ."]
    assert d.label_ids(["negative", "positive"]) == [1, 0]


def test_headerless_tsv_takes_last_column_as_label(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("stocks fall\tBusiness\nteam wins\tSports\n")
    d = load_dataset(f)
    assert d.texts == ["stocks fall", "team wins"] and d.label_names == ["Business", "Sports"]
    assert d.label_ids(["Sports", "Business"]) == [1, 0]


def test_sentence_pairs_and_explicit_columns(tmp_path):
    f = tmp_path / "p.tsv"
    f.write_text("how old are you\twhat is your age\t1\nhi\tbye\t0\n")
    d = load_dataset(f)
    assert d.is_pair and d.texts[0] == ("how old are you", "what is your age")
    d1 = load_dataset(f, text_columns=[1], label_column=2)
    assert d1.texts == ["what is your age", "bye"]


def test_csv_jsonl_and_txt(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\n"a, quoted, text",pos\nplain,neg\n')
    assert load_dataset(tmp_path / "d.csv").texts == ["a, quoted, text", "plain"]
    (tmp_path / "d.jsonl").write_text('{"text": "x", "label": 1}\n\n{"text": "y", "label": 0}\n')
    d = load_dataset(tmp_path / "d.jsonl")
    assert d.texts == ["x", "y"] and d.raw_labels == ["1", "0"]
    (tmp_path / "u.txt").write_text("first line\n\nsecond line\n")
    u = load_dataset(tmp_path / "u.txt")
    assert u.texts == ["first line", "second line"] and u.raw_labels is None


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "absent.tsv")
    (tmp_path / "bad.tsv").write_bytes(b"caf\xe9\t1\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_dataset(tmp_path / "bad.tsv")
    (tmp_path / "h.tsv").write_text("text\tlabel\na\t1\n")
    with pytest.raises(DataError, match="no text column 'body'"):
        load_dataset(tmp_path / "h.tsv", text_columns=["body"])
    with pytest.raises(DataError, match="label 'maybe'"):
        (tmp_path / "l.tsv").write_text("text\tlabel\na\tmaybe\n")
        load_dataset(tmp_path / "l.tsv").label_ids(["no", "yes"])
    (tmp_path / "j.jsonl").write_text("{not json\n")
    with pytest.raises(DataError, match="line 1"):
        load_dataset(tmp_path / "j.jsonl")


def test_split_is_seeded_and_disjoint(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("".join(f"text {i}\t{i % 2}\n" for i in range(100)))
    d = load_dataset(f)
    train, dev = d.split(0.2, seed=3)
    assert len(dev) == 20 and len(train) == 80
    assert not set(train.texts) & set(dev.texts)
    assert d.split(0.2, seed=3)[1].texts == dev.texts


SHARED = [("sst2/train.tsv", 67349, 2, False), ("sst2/dev.tsv", 872, 2, False),
          ("ag_news/train.tsv", 10001, 4, False), ("chnsenticorp/train.tsv", 9600, 2, False),
          ("book_review/dev.tsv", 10000, 2, False), ("shopping/dev.tsv", 10000, 2, False),
          ("weibo/dev.tsv", 10000, 2, False), ("lcqmc/dev.tsv", 8802, 2, True),
          ("thucnews_titles/dev.tsv", 10000, 10, False)]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not beside the project")
@pytest.mark.parametrize("name, rows, classes, pair", SHARED)
def test_every_shared_dataset_loads(name, rows, classes, pair):
    d = load_dataset(SHARED_DATA / name)
    assert len(d) == rows and len(d.label_names) == classes and d.is_pair == pair
    assert all(d.texts) and d.label_ids(d.label_names)


def test_reading_leaves_the_csv_field_limit_as_it_was_and_names_an_oversized_cell(tmp_path):
    import csv

    from fastbert import data as data_module

    before = csv.field_size_limit()
    f = tmp_path / "d.tsv"
    f.write_text("text\tlabel\n" + "x" * 200_000 + "\t1\n")
    assert len(load_dataset(f).texts[0]) == 200_000  # above csv's default, within FIELD_LIMIT
    assert csv.field_size_limit() == before
    f.write_text("text\tlabel\n" + "x" * (data_module.FIELD_LIMIT + 1) + "\t1\n")
    with pytest.raises(DataError, match=r"d\.tsv: line 2: .*field"):
        load_dataset(f)
    assert csv.field_size_limit() == before
