"""The one vocabulary type: every kind round-trips through its JSON form, the forms runs
were saved in before read back to the same ids, and bad files say which file is at fault."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.documents import SubwordVocab, vocab_from_json
from rnnlab.data.documents import WordVocab as DocumentWords
from rnnlab.data.images import WordVocab as CaptionWords
from rnnlab.data.parallel import SPECIALS, TokenVocab
from rnnlab.data.text import CharVocab
from rnnlab.data.vocab import Vocab, train_bpe
from rnnlab.errors import InputError

TEXTS = ["ein Hund läuft schnell.", "eine Katze schläft!", "ein Hund schläft, 12 Mal"] * 20


def _presets():
    return {
        "char (textgen)": CharVocab.build("".join(TEXTS)),
        "char (translate)": TokenVocab.build(TEXTS, "char"),
        "bpe (translate)": TokenVocab.build(TEXTS, "bpe", 80),
        "bpe bytes (textgen)": Vocab("bpe", tokenizer=train_bpe(iter(TEXTS), 300, byte_level=True)),
        "words (captions)": CaptionWords.build(TEXTS),
        "words (documents)": DocumentWords.build(TEXTS, 50, 1),
        "subwords (documents)": SubwordVocab.build(TEXTS, 60),
    }


@pytest.mark.parametrize("name", list(_presets()))
def test_every_kind_round_trips_through_json(name, tmp_path):
    vocab = _presets()[name]
    assert isinstance(vocab, Vocab)
    path = tmp_path / "vocab.json"
    path.write_text(vocab.to_json(), encoding="utf-8")
    again = Vocab.read(path, split=vocab.split, normalize=vocab.normalize)  # specials come from the file
    text = "ein Hund schläft"
    assert again.encode(text) == vocab.encode(text) and len(again) == len(vocab)
    assert (again.specials, again.unk_id) == (vocab.specials, vocab.unk_id)
    ids = vocab.encode(text)
    assert again.decode(ids) == vocab.decode(ids)
    if vocab.kind != "word" and vocab.normalize("X") == "X":  # characters and plain BPE give the text back
        assert vocab.decode(ids) == text


def test_files_saved_before_the_type_read_as_they_were_written(tmp_path):
    path = tmp_path / "v.json"
    # translate's characters: {"kind": "char", "chars"} with the specials implied
    old = TokenVocab("char", sorted(set("".join(TEXTS))))
    path.write_text(json.dumps({"kind": "char", "chars": old.chars}), encoding="utf-8")
    assert TokenVocab.from_json(path.read_text(), path).encode("Hund?") == old.encode("Hund?")
    # captions: {"words": [...]}
    caption = CaptionWords(["a", "red", "circle"])
    path.write_text(json.dumps({"words": ["a", "red", "circle"]}), encoding="utf-8")
    assert CaptionWords.read(path).encode("a red square") == caption.encode("a red square") == [4, 5, 3]
    # documents: {"kind": "word", "words"}
    path.write_text(json.dumps({"kind": "word", "words": ["hund", "ein"]}), encoding="utf-8")
    assert vocab_from_json(path.read_text(), path).encode("Ein Hund bellt") == [3, 2, 1]
    # textgen's byte-level BPE: the tokenizer's own JSON
    tok = train_bpe(iter(TEXTS), 300, byte_level=True)
    path.write_text(tok.to_str(), encoding="utf-8")
    assert Vocab.read(path).encode("Katze") == tok.encode("Katze").ids


def test_decode_leaves_out_the_specials_but_unk():
    vocab = CaptionWords(["a", "red"])
    assert vocab.decode([1, 4, 3, 5, 2, 0]) == "a <unk> red"
    chars = TokenVocab("char", ["a", "b"])
    assert chars.decode([1, 4, 3, 5, 2]) == "a<unk>b" and chars.specials == SPECIALS


def test_unknown_text_is_unk_or_an_error_naming_it():
    assert TokenVocab("char", ["a"]).encode("ab") == [4, 3]
    with pytest.raises(InputError, match="'z'"):
        CharVocab(["a"]).encode("az")
    assert CharVocab(["a"]).unknown("abz") == ["b", "z"]


@pytest.mark.parametrize("content", ["", "[1, 2]", '{"kind": "morse"}', '{"kind": "char", "chars": 5}',
                                     '{"kind": "bpe", "tokenizer": {"model": 1}}'])
def test_a_damaged_vocabulary_file_is_named(tmp_path, content):
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=f"{path}: not a valid vocabulary file"):
        Vocab.read(path)
    with pytest.raises(InputError, match="vocabulary file missing"):
        Vocab.read(tmp_path / "absent.json")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_characters_round_trip_any_text(text):
    vocab = CharVocab.build(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.encode_array(text).tolist() == vocab.encode(text)
    assert Vocab.from_json(vocab.to_json(), "v.json").encode(text) == vocab.encode(text)
