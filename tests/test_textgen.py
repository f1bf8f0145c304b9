"""rnnlab textgen: bad input, sampling through the one-step path, CLI end to end."""

import pytest
import torch
from conftest import read_json

from rnnlab.apps.textgen import APP, TextGenConfig, build_model
from rnnlab.data.text import CharVocab, read_text_file, stdlib_corpus
from rnnlab.errors import InputError

TEXT = "".join(f"the cat sat on mat number {i % 7}.\n" for i in range(600))


def test_bad_files(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        read_text_file(tmp_path / "empty.txt")
    (tmp_path / "bin.dat").write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(InputError, match="binary.*offset 3"):
        read_text_file(tmp_path / "bin.dat")
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(InputError, match=r"byte 3 \(0xe9\).*encoding=latin-1"):
        read_text_file(tmp_path / "latin.txt")
    assert read_text_file(tmp_path / "latin.txt", encoding="latin-1") == "café au lait"
    (tmp_path / "bom.txt").write_bytes("\ufeffhello".encode("utf-8"))
    assert read_text_file(tmp_path / "bom.txt") == "hello"  # the byte-order mark is not text
    assert "�" in read_text_file(tmp_path / "latin.txt", errors="replace")


def test_stdlib_corpus_is_python_source():
    text, files = stdlib_corpus(50_000)
    assert len(text) == 50_000 and files >= 1 and "def " in text


def test_vocab_round_trip_and_unknown():
    v = CharVocab.build("hello")
    assert v.decode(v.encode("hole")) == "hole"
    with pytest.raises(InputError, match="'z'"):
        v.encode("haz")


def test_one_step_sampling_equals_rerunning_the_prefix():
    torch.manual_seed(0)
    cfg = TextGenConfig(hidden_size=16, num_layers=2, embed_size=8, dropout=0.0)
    model = build_model(cfg, 10).eval()
    ids = [1, 2, 3]
    with torch.no_grad():
        logits, state = model(torch.tensor([ids]))
        carried = []
        for _ in range(8):
            nxt = int(logits[0, -1].argmax())
            carried.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
        rerun, seq = [], list(ids)
        for _ in range(8):
            out, _ = model(torch.tensor([seq]))
            nxt = int(out[0, -1].argmax())
            rerun.append(nxt)
            seq.append(nxt)
    assert carried == rerun


def test_cli_end_to_end(tmp_path, cli):
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    run = tmp_path / "run"
    code, out, err = cli("textgen", "train", "--quick", "--data", str(corpus), "--out", str(run), "--epochs", "3",
                         "--set", "seq_len=32", "--set", "batch_size=8", "--set", "hidden_size=64")
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["val_bits_per_char"] < m["baseline_unigram_bits_per_char"]
    assert (run / "vocab.json").exists() and (run / "training_curve.png").exists()
    code, out, err = cli("textgen", "evaluate", str(run))
    assert code == 0, err
    assert read_json(run / "metrics.json")["val_nats_per_char"] == pytest.approx(m["val_nats_per_char"], rel=1e-5)
    code, out, err = cli("textgen", "sample", str(run), "--prime", "the ", "--length", "40", "--seed", "1")
    assert code == 0, err
    assert out.startswith("the ") and len(out) >= 44
    code, out, err = cli("textgen", "sample", str(run), "--prime", "the ZEBRA")
    assert code == 2 and "not in the model's vocabulary" in err and "'Z'" in err
    code, out, err = cli("forecast", "evaluate", str(run))
    assert code == 2 and "rnnlab textgen" in err


def test_bpe_tokenizer_run(tmp_path):
    corpus = tmp_path / "cats.txt"
    corpus.write_text(TEXT)
    run = APP.train(data=str(corpus), quick=True, out=tmp_path / "bpe", epochs=1, verbose=False,
                    overrides=["tokenizer=bpe", "vocab_size=300", "seq_len=16", "batch_size=4", "hidden_size=32"])
    m = read_json(run / "metrics.json")
    assert m["val_perplexity"] > 1 and m["val_nats_per_char"] > 0
    assert APP.sample(run, "the", length=5, temperature=0.0)


@pytest.mark.slow
def test_quick_default_beats_unigram(tmp_path, cli):
    code, out, err = cli("textgen", "train", "--quick", "--out", str(tmp_path / "q"))
    assert code == 0, err
    m = read_json(tmp_path / "q" / "metrics.json")
    assert m["val_bits_per_char"] < m["baseline_unigram_bits_per_char"] - 1.0


def test_a_directory_reads_its_txt_files_in_name_order(tmp_path):
    from rnnlab.data.text import load_corpus

    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "sub" / "c.txt").write_text("third")
    (tmp_path / "notes.md").write_text("skipped")
    text, _ = load_corpus(str(tmp_path), 10_000)
    assert text == "first\nsecond\nthird"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .txt files"):
        load_corpus(str(tmp_path / "empty"), 10_000)
