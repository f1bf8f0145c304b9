"""rnnlab docs: documents read and split, HAN's masks at both levels, the CLI end to end."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.documents import (
    WordVocab,
    drop_duplicates,
    encode_document,
    load_documents,
    split_sentences,
    split_words,
)
from rnnlab.data.embeddings import ppmi_svd_vectors
from rnnlab.errors import InputError
from rnnlab.models.documents import FlatAttentionClassifier, HierarchicalAttentionNetwork


class Ran:
    """A CLI run: exit code, and stdout then stderr as one text."""

    def __init__(self, code, out, err):
        self.exit_code, self.stdout, self.output = code, out, out + err


def test_sentences_split_at_stops_but_not_after_abbreviations_initials_or_decimals():
    text = ("Mr. Smith paid $1.5bn to J. R. Ewing on Jan. 3. Shares rose 3.2%! \"Good,\" he said. "
            "Then the U.S. market closed.\nA new line starts here")
    assert split_sentences(text) == [
        "Mr. Smith paid $1.5bn to J. R. Ewing on Jan. 3.", "Shares rose 3.2%!", "\"Good,\" he said.",
        "Then the U.S. market closed.", "A new line starts here"]
    assert split_words("Don't e-mail 3,000 people at 1.5x!") == ["don't", "e-mail", "3,000", "people", "at",
                                                                   "1.5x", "!"]


def _corpus(root, n=30, seed=0):
    """Three topics, each with its own words (and shared filler), as <label>/*.txt."""
    rng = random.Random(seed)
    topics = {"sport": "match goal team coach league win", "money": "bank shares profit market rate loan",
              "film": "actor movie award director star cinema"}
    filler = "the a of in on and it was said today".split()
    for label, words in topics.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            sentences = []
            for _ in range(rng.randint(2, 6)):
                ws = [rng.choice(words.split() if rng.random() < 0.4 else filler) for _ in range(rng.randint(4, 12))]
                sentences.append(" ".join(ws).capitalize() + ".")
            (root / label / f"{i:03d}.txt").write_text(" ".join(sentences) + f" Item {label[0]}{i}.",
                                                       encoding="utf-8")
    return root


def test_documents_from_a_folder_a_csv_and_json_lines(tmp_path):
    docs = load_documents(str(_corpus(tmp_path / "c", n=3)))
    assert len(docs) == 9 and {d.label for d in docs} == {"sport", "money", "film"}
    (tmp_path / "d.csv").write_text('body,topic\n"One. Two, three.",a\nfour five,b\n', encoding="utf-8")
    rows = load_documents(str(tmp_path / "d.csv"), text_column="body", label_column="topic")
    assert [(d.text, d.label) for d in rows] == [("One. Two, three.", "a"), ("four five", "b")]
    (tmp_path / "d.jsonl").write_text('{"text": "hello there", "label": 1}\n\n{"text": "bye", "label": 2}\n')
    assert [d.label for d in load_documents(str(tmp_path / "d.jsonl"))] == ["1", "2"]


@pytest.mark.parametrize("setup,needle", [
    (lambda p: (p / "x.csv").write_text("text,label\nhi,a\n"), "no column 'body'"),
    (lambda p: (p / "x.jsonl").write_text('{"text": "a", "label": 1}\nnot json\n'), "x.jsonl, line 2: not valid JSON"),
    (lambda p: (p / "x.jsonl").write_text('{"text": " ... ", "label": 1}\n'), "line 1: an empty document"),
    (lambda p: (p / "x" / "a").mkdir(parents=True), "a label folder with no .txt files"),
    (lambda p: (p / "x.csv").write_bytes(b"body,label\n\xff\xfe,a\n"), "byte 11 (0xff) is not valid utf-8"),
])
def test_bad_documents_are_input_errors_naming_the_file(tmp_path, setup, needle):
    setup(tmp_path)
    target = next(p for p in sorted(tmp_path.iterdir()))
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_documents(str(target), text_column="body" if "body" in needle or target.suffix == ".csv" else "text")


def test_exact_duplicates_are_removed_whatever_their_label():
    from rnnlab.data.documents import Document

    docs = [Document("A b.", "x", "1"), Document("a  B.", "y", "2"), Document("c", "x", "3")]
    kept, dropped = drop_duplicates(docs)
    assert dropped == 1 and [d.source for d in kept] == ["1", "3"]


def test_long_documents_are_cut_and_say_so():
    vocab = WordVocab.build(["One two three. Four five six."], 100, 1)
    enc, cut = encode_document("One two three. Four five six. One two.", vocab, max_sentences=2, max_words=2)
    assert cut and enc == [[vocab.index["one"], vocab.index["two"]], [vocab.index["four"], vocab.index["five"]]]


def _han(seed=0):
    torch.manual_seed(seed)
    return HierarchicalAttentionNetwork(20, 3, embed_size=6, word_hidden=4, sentence_hidden=5).eval()


def test_padding_never_reaches_han_at_either_level():
    """A document alone and beside a longer one (more sentences, longer sentences): the same output."""
    model = _han()
    doc = [[3, 4, 5], [6, 7]]
    longer = [[8, 9, 10, 11, 12, 13], [4], [5, 6, 7, 8], [9, 9, 9, 9, 9, 9, 9]]
    from rnnlab.apps.docs import DocBatches

    alone = DocBatches([doc], [0], 1, 0, flat=False, shuffle=False)(0)[0]
    both = DocBatches([doc, longer], [0, 0], 2, 0, flat=False, shuffle=False)(0)[0]
    with torch.no_grad():
        a, sa, wa = model.encode(*alone[:-1])
        b, sb, wb = model.encode(*both[:-1])
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sb[0, :2], sa[0], rtol=1e-5, atol=1e-6)
    assert float(sb[0, 2:].abs().sum()) == 0.0  # padded sentences get no attention
    assert float(wb[0, 0, 3:].abs().sum()) == 0.0 and float(wb[0, 1, 2:].abs().sum()) == 0.0
    torch.testing.assert_close(wb[0].sum(-1)[:2], torch.ones(2))


def test_han_gradients_reach_every_parameter_and_are_finite():
    model = _han().train()
    from rnnlab.apps.docs import DocBatches

    batch = DocBatches([[[3, 4], [5, 6, 7]], [[8]]], [0, 2], 2, 0, flat=False, shuffle=False)(0)[0]
    loss = torch.nn.functional.cross_entropy(model(*batch[:-1]), batch[-1])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_flat_model_ignores_padding():
    torch.manual_seed(0)
    model = FlatAttentionClassifier(20, 3, 6, 4).eval()
    ids = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
    with torch.no_grad():
        both = model(ids, torch.tensor([3, 5]))
        alone = model(ids[:1, :3], torch.tensor([3]))
    torch.testing.assert_close(both[0], alone[0], rtol=1e-5, atol=1e-6)


def test_word_dropout_hides_words_only_while_training_and_never_padding():
    from rnnlab.apps.docs import DocBatches, DocsConfig, build_model
    from rnnlab.data.documents import PAD_ID, UNK_ID, SubwordVocab, unknown_id
    from rnnlab.models.documents import drop_words

    torch.manual_seed(0)
    ids = torch.randint(2, 20, (400, 30))
    ids[:, 20:] = PAD_ID
    dropped = drop_words(ids, 0.25, PAD_ID, UNK_ID)
    assert torch.equal(dropped[:, 20:], ids[:, 20:])  # padding stays padding
    changed = dropped[:, :20] != ids[:, :20]
    assert bool((dropped[:, :20][changed] == UNK_ID).all()) and 0.23 < float(changed.float().mean()) < 0.27
    assert torch.equal(drop_words(ids, 0.0, PAD_ID, UNK_ID), ids)
    # the model: p = 1 while training reads every word as <unk>; in eval mode nothing is dropped
    batch = DocBatches([[[3, 4], [5, 6, 7]], [[8, 9]]], [0, 1], 2, 0, flat=False, shuffle=False)(0)[0]
    torch.manual_seed(1)
    model = HierarchicalAttentionNetwork(20, 3, embed_size=6, word_hidden=4, sentence_hidden=5, word_dropout=1.0)
    model.dropout.p = 0.0
    with torch.no_grad():
        all_unknown = batch[0].masked_fill(batch[0] != PAD_ID, UNK_ID)
        torch.testing.assert_close(model.train()(*batch[:-1]), model.eval()(all_unknown, *batch[1:-1]))
        assert not torch.allclose(model.eval()(*batch[:-1]), model(all_unknown, *batch[1:-1]))
    flat = FlatAttentionClassifier(20, 3, 6, 4, word_dropout=1.0)
    flat_ids, lengths = torch.tensor([[3, 4, 5, 0]]), torch.tensor([3])
    with torch.no_grad():
        torch.testing.assert_close(flat.train()(flat_ids, lengths), flat.eval()(torch.tensor([[1, 1, 1, 0]]), lengths))
    # the app's networks replace words by their own vocabulary's <unk>
    assert build_model(DocsConfig(ensemble=1, word_dropout=0.1), 50, 3).unk_id == UNK_ID
    bpe = SubwordVocab.build(["the team scored a goal"] * 5, 40)
    assert build_model(DocsConfig(ensemble=1, tokenizer="bpe"), 50, 3).unk_id == bpe.unk_id == unknown_id("bpe")
    for key in ("word_dropout", "label_smoothing"):
        with pytest.raises(ValueError, match=key):
            DocsConfig(**{key: 1.0})


def test_ppmi_vectors_put_words_of_the_same_contexts_together():
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(400):  # 2 and 3 occur beside 10-14; 4 beside 15-19
        seqs.append([int(rng.choice([2, 3])), int(rng.integers(10, 15)), int(rng.integers(10, 15))])
        seqs.append([4, int(rng.integers(15, 20)), int(rng.integers(15, 20))])
    v = ppmi_svd_vectors(seqs, 20, 4)
    assert float(v[2] @ v[3]) > float(v[2] @ v[4]) + 0.3


def test_cli_trains_predicts_explains_and_evaluates(tmp_path, cli):
    data = _corpus(tmp_path / "corpus", n=30)
    run = tmp_path / "run"
    out = Ran(*cli("docs", "train", "--quick", "--data", str(data), "--out", str(run), "--epochs", "6"))
    assert out.exit_code == 0, out.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.8 > metrics["baseline_majority_accuracy"]
    assert "attention" in (run / "report.html").read_text() and (run / "explain_1.html").exists()
    pred = Ran(*cli("docs", "predict", str(run), str(data / "sport" / "000.txt"), str(data / "money")))
    assert pred.exit_code == 0, pred.output
    lines = [line.split("\t") for line in pred.stdout.strip().splitlines()]
    # one line per file (a file, then a folder's 30), in order: path, label, probability
    assert len(lines) == 31 and lines[0][0].endswith("000.txt") and all(len(x) == 3 for x in lines)
    truth = [Path(x[0]).parent.name for x in lines]
    # a few epochs on 72 documents: most, not every one, right (one file is too fragile a check)
    assert sum(x[1] == t for x, t in zip(lines, truth)) >= 0.8 * len(lines), lines
    page = Ran(*cli("docs", "explain", str(run), str(data / "film" / "001.txt"), "--out", str(tmp_path / "e.html")))
    assert page.exit_code == 0, page.output
    html = (tmp_path / "e.html").read_text()
    assert "predicted: film" in html and "rgba(220,40,40" in html
    assert cli("docs", "evaluate", str(run))[0] == 0


def test_cli_single_class_exits_2_and_leaves_no_run(tmp_path, cli):
    (tmp_path / "c" / "only").mkdir(parents=True)
    (tmp_path / "c" / "only" / "a.txt").write_text("Some words here.")
    (tmp_path / "c" / "only" / "b.txt").write_text("More words there.")
    out = Ran(*cli("docs", "train", "--data", str(tmp_path / "c"), "--out", str(tmp_path / "run")))
    assert out.exit_code == 2 and "only one class" in out.output
    assert not (tmp_path / "run").exists()


def test_subword_tokenizer_trains_and_explains_with_its_pieces(tmp_path, cli):
    from rnnlab.data.documents import SubwordVocab, vocab_from_json

    vocab = SubwordVocab.build(["Goals scored today. The team won the league."] * 5, 60)
    ids, pieces = vocab.encode("The team scored"), vocab.pieces("The team scored")
    assert len(ids) == len(pieces) and "".join(pieces).replace(" ", "") == "theteamscored"
    assert vocab_from_json(vocab.to_json(), tmp_path / "v.json").encode("team") == vocab.encode("team")
    data = _corpus(tmp_path / "corpus", n=12)
    run = tmp_path / "run"
    out = Ran(*cli("docs", "train", "--quick", "--data", str(data), "--out", str(run), "--epochs", "2",
              "--set", "tokenizer=bpe", "--set", "vocab_size=120"))
    assert out.exit_code == 0, out.output
    page = Ran(*cli("docs", "explain", str(run), str(data / "film" / "001.txt")))
    assert page.exit_code == 0 and "predicted:" in page.output


def test_stratified_folds_partition_and_balance_classes():
    from rnnlab.tasks.classification import stratified_folds

    labels = ["a"] * 10 + ["b"] * 7 + ["c"] * 3
    folds = stratified_folds(labels, 3, seed=1)
    assert sorted(i for f in folds for i in f) == list(range(20))
    for c, n in (("a", 10), ("b", 7)):
        counts = [sum(labels[i] == c for i in f) for f in folds]
        assert max(counts) - min(counts) <= 1 and sum(counts) == n


def test_majority_class_breaks_ties_by_name_whatever_the_order():
    from rnnlab.tasks.classification import majority_class

    assert majority_class(["b", "a", "c", "c"]) == "c"
    for labels in (["sport", "business"] * 3, ["business", "sport"] * 3, ["tech"] + ["sport", "business"] * 3):
        assert majority_class(labels) == "business"


def test_cross_validation_trains_a_model_per_fold_and_keeps_the_last(tmp_path, cli):
    data = _corpus(tmp_path / "corpus", n=12)
    run = tmp_path / "run"
    out = Ran(*cli("docs", "train", "--quick", "--data", str(data), "--out", str(run), "--epochs", "2",
              "--set", "folds=3"))
    assert out.exit_code == 0, out.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["folds"] == 3 and "accuracy_std" in metrics and metrics["test_documents"] == 12
    assert sorted(p.name for p in (run / "folds").iterdir()) == ["0", "1", "2"]
    assert (run / "model.safetensors").read_bytes() == (run / "folds" / "2" / "model.safetensors").read_bytes()
    assert cli("docs", "predict", str(run), str(data / "sport" / "000.txt"))[0] == 0
    bad = Ran(*cli("docs", "train", "--data", str(data), "--out", str(tmp_path / "r2"), "--set", "folds=1"))
    assert bad.exit_code == 2 and "folds" in bad.output


def test_ensemble_of_hans_averages_members_explains_and_resumes_member_by_member(tmp_path, cli):
    """ensemble=2: members train in members/<i> with their own seeds; the run's model is
    the log of their mean probabilities, its explanation their mean attention; a run
    killed in its second member resumes to the weights of an uninterrupted one."""
    from conftest import as_if_killed
    from safetensors.numpy import load_file

    from rnnlab.apps.docs import APP
    from rnnlab.models import Ensemble
    from rnnlab.tasks.documents import DocBatches, encode_documents

    data = _corpus(tmp_path / "corpus", n=12)
    common = ["--quick", "--data", str(data), "--epochs", "2", "--set", "ensemble=2", "--set", "explain=1",
              "--set", "train.checkpoint_every=1"]
    run = tmp_path / "full"
    out = Ran(*cli("docs", "train", *common, "--out", str(run)))
    assert out.exit_code == 0, out.output
    assert all((run / "members" / str(i) / "finished").exists() for i in (0, 1))
    cfg, vocab, classes, model = APP.load(run)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    m0, m1 = model.members
    assert not torch.equal(m0.head.weight, m1.head.weight)
    texts = [(data / "film" / "001.txt").read_text(), (data / "sport" / "002.txt").read_text()]
    ids, lengths, counts, _ = DocBatches(encode_documents(texts, vocab, cfg.max_sentences, cfg.max_words),
                                         [0, 0], 2, 0, flat=False, shuffle=False)(0)[0]
    with torch.no_grad():
        mean_p = (m0(ids, lengths, counts).softmax(-1) + m1(ids, lengths, counts).softmax(-1)) / 2
        torch.testing.assert_close(model(ids, lengths, counts).exp(), mean_p)
    proba = APP.predict_proba(cfg, model, vocab, texts)
    np.testing.assert_allclose(proba, mean_p.numpy(), rtol=1e-5, atol=1e-6)
    page = Ran(*cli("docs", "explain", str(run), str(data / "film" / "001.txt")))
    k = int(mean_p[0].argmax())
    shown = re.search(r"predicted: (\w+)</b> \(([\d.]+)%\)", page.output)
    assert page.exit_code == 0 and shown and shown[1] == classes[k], page.output
    assert abs(float(shown[2]) - 100 * float(mean_p[0, k])) <= 0.051  # printed to 0.1%
    assert (run / "explain_1.html").exists() and cli("docs", "evaluate", str(run))[0] == 0

    killed = tmp_path / "killed"
    out = Ran(*cli("docs", "train", *common, "--out", str(killed), "--set", "train.max_steps=1"))
    assert out.exit_code == 0, out.output
    as_if_killed(killed)  # member 0 finished at step 1 is kept as it is: let it train on
    (killed / "members" / "0" / "finished").unlink()
    (killed / "members" / "1" / "finished").unlink()
    out = Ran(*cli("docs", "train", "--resume", str(killed)))
    assert out.exit_code == 0, out.output
    a, b = load_file(run / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    bad = Ran(*cli("docs", "train", "--data", str(data), "--out", str(tmp_path / "r3"), "--set", "ensemble=0"))
    assert bad.exit_code == 2 and "ensemble" in bad.output
