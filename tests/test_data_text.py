import hashlib
import sys

import numpy as np
import pytest
import torch

from mdlm_core.data.text import (DATA_ENV, WIKITEXT2_FILES, MissingDataError, decode_stream, encode_stream,
                                 find_wikitext2, load_or_train_tokenizer, load_wikitext2, pack_sequences,
                                 take_lines, train_bpe_tokenizer)

LINES = [" = Valkyria Chronicles III = \n", " \n",
         " Senjō no Valkyria 3 : <unk> Chronicles ( Japanese : 戦場のヴァルキュリア3 ) is a tactical role @-@ playing game .\n",
         " The game began development in 2010 , carrying over a large portion of the work done on Valkyria Chronicles II .\n"] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(LINES, vocab_size=320)


def test_tokenizer_round_trips_text_including_unseen_characters(tokenizer):
    for text in ["".join(LINES[:4]), "naïve café — ünïcødé 🙂 never seen in training\n\n  two  spaces\t<unk>",
                 "", " @-@ <unk> <unk>\n"]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert decode_stream(tokenizer, ids) == text
    assert tokenizer.token_to_id("<pad>") == 0
    assert tokenizer.get_vocab_size() == 320


def test_encode_stream_concatenates_lines_losslessly(tokenizer):
    ids = encode_stream(tokenizer, LINES, batch=7)  # several encode batches
    assert ids.dtype == np.int64 and 0 not in ids    # <pad> is never produced by encoding
    assert decode_stream(tokenizer, ids) == "".join(LINES)


def test_tokenizer_cache_is_keyed_by_texts_and_settings(tmp_path):
    first = load_or_train_tokenizer(LINES, 300, cache=tmp_path)
    assert len(list(tmp_path.glob("bpe-300-*.json"))) == 1
    again = load_or_train_tokenizer(LINES, 300, cache=tmp_path)
    assert again.encode(LINES[2]).ids == first.encode(LINES[2]).ids
    load_or_train_tokenizer(LINES, 310, cache=tmp_path)
    load_or_train_tokenizer(LINES[:-1], 300, cache=tmp_path)
    assert len(list(tmp_path.glob("bpe-*.json"))) == 3


@pytest.mark.parametrize("length", [0, 1, 63, 64, 65, 1000])
def test_packing_neither_drops_nor_duplicates_tokens(length):
    stream = torch.randperm(5000)[:length]  # distinct ids: a duplicate or a loss would show
    packed = pack_sequences(stream.numpy(), seq_len=64, pad_id=-1)
    assert packed.tokens.shape == (-(-length // 64), 64)
    assert torch.equal(packed.unpack(), stream)
    assert int(packed.valid.sum()) == length
    assert torch.all(packed.tokens[~packed.valid] == -1)
    assert packed.full_rows.shape[0] == length // 64
    assert torch.equal(packed.full_rows.reshape(-1), stream[:length // 64 * 64])


def test_take_lines_keeps_whole_lines():
    assert take_lines(["ab\n", "cd\n", "ef\n"], 7) == ["ab\n", "cd\n"]
    assert take_lines(["ab\n"], None) == ["ab\n"]


def write_wikitext(folder):
    folder.mkdir(parents=True)
    for split, name in WIKITEXT2_FILES.items():
        (folder / name).write_text(f" = {split} = \n \n some {split} text\n", encoding="utf-8")


def test_loader_reads_named_folder_or_env_and_records_sha256(tmp_path, monkeypatch):
    write_wikitext(tmp_path / "wikitext-2")
    monkeypatch.delenv(DATA_ENV, raising=False)
    corpus = load_wikitext2(tmp_path)
    assert corpus.splits["valid"] == [" = valid = \n", " \n", " some valid text\n"]
    expected = hashlib.sha256((tmp_path / "wikitext-2" / "wiki.test.tokens").read_bytes()).hexdigest()
    assert corpus.sha256["test"] == expected
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert find_wikitext2() == tmp_path / "wikitext-2"
    assert find_wikitext2(tmp_path / "wikitext-2") == tmp_path / "wikitext-2"  # the folder itself works too


def test_missing_data_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(MissingDataError, match=r"(?s)not found.*MDLM_DATA_DIR.*data_dir.*source='hub'"):
        load_wikitext2()
    (tmp_path / "wikitext-2").mkdir()
    (tmp_path / "wikitext-2" / "wiki.train.tokens").write_text("only one file\n")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(MissingDataError) as err:
        load_wikitext2()
    assert str(tmp_path / "wikitext-2") in str(err.value)  # it lists where it looked
    assert isinstance(err.value, FileNotFoundError)


def test_hub_without_datasets_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(MissingDataError, match=r"pip install 'mdlm-core\[hub\]'"):
        load_wikitext2(source="hub")
    with pytest.raises(ValueError, match="source"):
        load_wikitext2(source="ftp")


def test_char_tokenizer_round_trips_text_and_marks_unknown_characters():
    from mdlm_core.data.text import CharTokenizer
    tok = CharTokenizer.fit(LINES, vocab_size=200)   # more ids than characters: every character kept
    text = "".join(LINES[:4])
    ids = encode_stream(tok, LINES[:4])
    assert decode_stream(tok, ids) == text and ids.min() >= 2
    assert tok.get_vocab_size() == len(set("".join(LINES))) + 2
    small = CharTokenizer.fit(LINES, vocab_size=5)   # <pad>, <unk> and the three commonest characters
    assert small.chars[0] == " " and small.get_vocab_size() == 5
    assert small.encode("\u2603").ids == [CharTokenizer.UNK_ID]
    assert (small.token_to_id("<pad>"), small.token_to_id(" "), small.token_to_id("\u2603")) == (0, 2, None)
    assert CharTokenizer.fit(LINES[::-1], vocab_size=200).chars == tok.chars   # a function of the counts only
    with pytest.raises(ValueError, match=">= 3 ids"):
        CharTokenizer.fit(LINES, vocab_size=2)


def test_unigram_entropy_on_a_toy_corpus():
    from mdlm_core.data.text import CharTokenizer, unigram_entropy
    tok = CharTokenizer.fit(["aab"], vocab_size=10)
    h = unigram_entropy(encode_stream(tok, ["aab", "aab"]))
    assert h == pytest.approx(-(2 / 3) * np.log(2 / 3) - (1 / 3) * np.log(1 / 3), abs=1e-12)
    assert unigram_entropy([7, 7, 7]) == 0.0
    assert unigram_entropy(np.arange(8)) == pytest.approx(np.log(8))
