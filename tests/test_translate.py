"""rnnlab translate: data checks, the generated task, CLI end to end."""

import datetime as dt

import pytest
import torch
from conftest import read_json

from rnnlab.data.parallel import DATE_STYLES, TokenVocab, generate_dates, read_parallel
from rnnlab.errors import InputError


def test_generated_dates_are_deterministic_and_correct():
    a, b = generate_dates(300, 5), generate_dates(300, 5)
    assert a == b and generate_dates(300, 6) != a
    for src, iso in a:
        d = dt.date.fromisoformat(iso)
        assert str(d.day) in src
    # every style appears and none is the ambiguous US numeric order
    d = dt.date(2003, 4, 5)
    assert len({style(d) for style in DATE_STYLES}) == len(DATE_STYLES)
    assert "4/5/2003" not in {style(d) for style in DATE_STYLES}


def test_parallel_file_checks(tmp_path):
    (tmp_path / "a.de").write_text("eins\nzwei\ndrei\n")
    (tmp_path / "a.en").write_text("one\ntwo\n")
    with pytest.raises(InputError, match=r"a.de has 3 lines.*a.en has 2"):
        read_parallel(str(tmp_path / "a.de"), str(tmp_path / "a.en"))
    (tmp_path / "b.en").write_text("one\n\nthree\n")
    with pytest.raises(InputError, match=r"b.en, line 2: empty line"):
        read_parallel(str(tmp_path / "a.de"), str(tmp_path / "b.en"))
    assert len(read_parallel(str(tmp_path / "a.de"), str(tmp_path / "b.en"), skip_empty=True)) == 2
    (tmp_path / "p.tsv").write_text("hola\thello\nadios goodbye\n")
    with pytest.raises(InputError, match=r"p.tsv, line 2: expected source<TAB>target"):
        read_parallel(str(tmp_path / "p.tsv"))
    (tmp_path / "bad.tsv").write_bytes(b"caf\xe9\tcoffee\n")
    with pytest.raises(InputError, match="byte 3"):
        read_parallel(str(tmp_path / "bad.tsv"))
    # CSV: a header, quoted fields (commas, a line break inside a sentence)
    (tmp_path / "p.csv").write_text('es,en\nhola,hello\n"sí, claro","yes, of course"\n"dos\nlíneas",two lines\nsolo\n')
    with pytest.raises(InputError, match=r"p.csv, line 6: expected a source and a target"):
        read_parallel(str(tmp_path / "p.csv"))
    assert read_parallel(str(tmp_path / "p.csv"), skip_empty=True) == [
        ("hola", "hello"), ("sí, claro", "yes, of course"), ("dos\nlíneas", "two lines")]


def test_vocab_round_trip(tmp_path):
    texts = ["ein Hund läuft", "eine Katze schläft", "ein Hund schläft"] * 20
    for kind in ("char", "bpe"):
        v = TokenVocab.build(texts, kind, vocab_size=60)
        again = TokenVocab.from_json(v.to_json(), tmp_path / "v.json")
        assert again.decode(again.encode("ein Hund schläft")) == "ein Hund schläft"
    with pytest.raises(InputError, match="empty vocabulary"):
        TokenVocab.build([], "char")


def test_cli_end_to_end(tmp_path, cli):
    tsv = tmp_path / "dates.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in generate_dates(400, 1)))
    run = tmp_path / "run"
    code, out, err = cli("translate", "train", "--quick", "--data", str(tsv), "--out", str(run), "--epochs", "1",
                         "--set", "tokenizer=char", "--set", "hidden_size=32", "--set", "eval_limit=20")
    assert code == 0, err
    assert "val_bleu" in (run / "metrics.csv").read_text().splitlines()[0]  # BLEU against training time
    m = read_json(run / "metrics.json")
    assert {"bleu", "chrf", "exact_match"} <= set(m)
    bleu = read_json(run / "bleu.json")
    assert "nrefs:1" in bleu["bleu_signature"] and bleu["by_source_length"]
    assert (run / "attention_1.png").exists()
    code, out, err = cli("translate", "evaluate", str(run))
    assert code == 0, err
    code, out, err = cli("translate", "predict", str(run), "5 de marzo de 1998", "March 5, 1998")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 2
    code, out, err = cli("translate", "predict", str(run), input="5 de marzo de 1998\n")
    assert code == 0 and len(out.strip().splitlines()) == 1
    code, out, err = cli("translate", "predict", str(run), input="")
    assert code == 2 and "no sentence" in err


def test_cli_unequal_files_exit_2(tmp_path, cli):
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    (tmp_path / "a.en").write_text("one\n")
    code, out, err = cli("translate", "train", "--data", f"{tmp_path / 'a.de'},{tmp_path / 'a.en'}",
                         "--out", str(tmp_path / "r"))
    assert code == 2 and "has 2 lines" in err and "has 1" in err
    assert not (tmp_path / "r").exists()  # nothing half-written
    assert not (tmp_path / "r" / "model.safetensors").exists()


@pytest.mark.slow
def test_quick_dates_reach_99_percent(tmp_path, cli):
    code, out, err = cli("translate", "train", "--quick", "--out", str(tmp_path / "q"))
    assert code == 0, err
    assert read_json(tmp_path / "q" / "metrics.json")["exact_match"] >= 0.99


def test_pair_batches_give_each_rank_its_own_share_of_every_batch():
    """Data parallelism: each process reads and pads only its rows; together they are the batch."""
    from rnnlab.apps.translate import PairBatches

    xs = [[4 + i % 7] * (1 + i % 5) for i in range(50)]
    ys = [[5] * (1 + i % 3) for i in range(50)]
    seen = []
    whole = PairBatches.of_lists(xs, ys, 8, seed=3)
    shards = [PairBatches(whole.lengths, whole.get, 8, 3, rank, 2) for rank in range(2)]
    for k, full in enumerate(whole(0)):
        parts = [s(0)[k] for s in shards]
        assert sum(p[0].shape[0] for p in parts) == full[0].shape[0]
        assert torch.equal(torch.cat([p[1] for p in parts]), full[1])  # source lengths, in batch order
        seen.append(full[0].shape[0])
    assert sum(seen) == 50
