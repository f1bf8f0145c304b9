"""ONNX export: onnxruntime computes what PyTorch computes, for any batch and length; a
layer ONNX cannot compute is refused; a graph that does not match is never kept; the
textgen app's exported graph generates the text the app does."""

import json

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.errors import InputError
from rnnlab.export import to_onnx

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN], ids=lambda c: c.__name__)
@pytest.mark.parametrize("batch_first", [True, False])
def test_layers_match_onnxruntime_for_any_batch_and_length(tmp_path, cls, batch_first):
    torch.manual_seed(0)
    layer = cls(5, 8, num_layers=2, bidirectional=True, batch_first=batch_first)
    shape = lambda B, T: (B, T, 5) if batch_first else (T, B, 5)  # noqa: E731
    dyn_x = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
    path = tmp_path / "layer.onnx"
    outputs = ["out", *(["h", "c"] if cls is rnnlab.LSTM else ["h"])]
    report = to_onnx(layer, [torch.randn(*shape(2, 6))], path, ["x"], outputs,
                     {"x": dyn_x, "out": dyn_x}, check=[torch.randn(*shape(3, 9))])
    assert report.max_abs_diff < 1e-5 and path.exists()
    assert layer.backend == "auto"  # restored after the export
    session = ort.InferenceSession(str(path))
    x = torch.randn(*shape(4, 13))
    got = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        out, _ = layer(x)
    np.testing.assert_allclose(got[0], out.numpy(), atol=1e-5)


def test_reference_only_layers_are_refused(tmp_path):
    model = rnnlab.SeqToVec(3, 2, hidden_size=4)
    model.rnn = rnnlab.Recurrent("lstm", 3, 4, peepholes=True)
    with pytest.raises(InputError, match="peepholes"):
        to_onnx(model, [torch.randn(1, 4, 3)], tmp_path / "m.onnx", ["x"], ["y"], {})
    assert not list(tmp_path.iterdir())


def test_a_graph_that_does_not_match_is_not_kept(tmp_path):
    layer = rnnlab.GRU(3, 4, batch_first=True)
    with pytest.raises(InputError, match="not kept"):
        to_onnx(layer, [torch.randn(2, 5, 3)], tmp_path / "m.onnx", ["x"], ["out", "h"], {}, atol=-1.0)
    assert not list(tmp_path.iterdir())
    assert layer.training  # mode restored


def test_textgen_export_generates_what_the_app_generates(tmp_path, cli):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log. " * 40)
    run = tmp_path / "run"
    code, _, err = cli("textgen", "train", "--quick", "--data", str(corpus), "--out", str(run), "--epochs", "1",
                       "--set", "hidden_size=32", "--set", "num_layers=2")
    assert code == 0, err
    code, out, err = cli("textgen", "export", str(run))
    assert code == 0, err
    assert "inputs ids, h0, c0" in out
    code, greedy, err = cli("textgen", "predict", str(run), "--prime", "the ", "--length", "30")
    assert code == 0, err
    # greedy generation with onnxruntime alone: the prime once, then one token at a time
    chars = json.loads((run / "vocab.json").read_text())["chars"]
    session = ort.InferenceSession(str(run / "model.onnx"))
    L, H = 2, 32
    state = [np.zeros((L, 1, H), np.float32), np.zeros((L, 1, H), np.float32)]
    ids = np.array([[chars.index(c) for c in "the "]], dtype=np.int64)
    text = ""
    for _ in range(30):
        logits, *state = session.run(None, {"ids": ids, "h0": state[0], "c0": state[1]})
        nxt = int(logits[0, -1].argmax())
        text += chars[nxt]
        ids = np.array([[nxt]], dtype=np.int64)
    assert greedy.rstrip("\n") == "the " + text
    code, _, err = cli("textgen", "export", str(tmp_path / "nowhere"))
    assert code == 2


@pytest.mark.parametrize("frame,deltas", [(1, False), (3, True)])
def test_classify_export_reads_raw_series_as_the_app_does(tmp_path, frame, deltas):
    """The exported graph carries the input encoding (Δ features, standardisation, frame
    stacking, a last partial frame): its probabilities equal the app's on raw series."""
    from rnnlab.apps.classify import APP, RawSeriesClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 20, 2)).cumsum(1)
    y = np.where(X[:, -1, 0] > X[:, 0, 0], "up", "down")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    run = APP.train(data=str(tmp_path / "d.npz"), quick=True, out=tmp_path / "run", epochs=1, verbose=False,
                    overrides=[f"frame={frame}", f"deltas={str(deltas).lower()}", "ensemble=2", "hidden_size=8"])
    report = APP.export(run)
    assert report.max_abs_diff < 1e-4
    cfg, classes, enc, model = APP.load(run)
    assert enc.frame == frame and enc.deltas == deltas
    series = [rng.standard_normal((19, 2)).cumsum(0) for _ in range(5)]  # 19 steps: a partial last frame
    x, lengths = enc.tensors(series)
    with torch.no_grad():
        want = model.eval()(x, lengths).softmax(-1).numpy()
        mine = RawSeriesClassifier(enc, model)(torch.tensor(np.stack(series), dtype=torch.float32)).numpy()
    np.testing.assert_allclose(mine, want, atol=1e-5)
    session = ort.InferenceSession(str(run / "model.onnx"))
    got = session.run(None, {"series": np.stack(series).astype(np.float32)})[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
