"""Handwriting synthesis: the mixture density head, the Gaussian window, the network's
step-by-step path, stroke files, and the app end to end."""

import io
import json
import math
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch
from conftest import read_json

from rnnlab.apps.handwriting import HandwritingConfig, baseline_nll, encode_batch
from rnnlab.attention import GaussianWindow
from rnnlab.data.strokes import Handwriting, font_handwriting, load_strokes, to_offsets, to_strokes, zen_words
from rnnlab.errors import InputError
from rnnlab.models import HandwritingSynthesis, MixtureDensityHead, mixture_nll, mixture_sample
from rnnlab.models.heads import mixture_log_density


def random_params(shape, M, seed=0):
    g = torch.Generator().manual_seed(seed)
    head = MixtureDensityHead(5, M)
    with torch.no_grad():
        return head(torch.randn(*shape, 5, generator=g))


# ---- mixture density head -------------------------------------------------------------
def test_mixture_density_equals_torch_distributions():
    torch.manual_seed(0)
    M = 4
    p = random_params((3, 7), M)
    target = torch.cat([torch.randn(3, 7, 2), torch.randint(0, 2, (3, 7, 1)).float()], -1)
    sigma = p["log_sigma"].exp()
    rho = p["rho"]
    cov = torch.stack([torch.stack([sigma[..., 0] ** 2, rho * sigma[..., 0] * sigma[..., 1]], -1),
                       torch.stack([rho * sigma[..., 0] * sigma[..., 1], sigma[..., 1] ** 2], -1)], -2)
    comp = torch.distributions.MultivariateNormal(p["mu"], covariance_matrix=cov)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=p["logit_pi"]), comp)
    end = torch.distributions.Bernoulli(logits=p["end_logit"])
    expected = mix.log_prob(target[..., :2]) + end.log_prob(target[..., 2])
    torch.testing.assert_close(mixture_log_density(p, target), expected, atol=1e-4, rtol=1e-4)


def test_mixture_nll_ignores_padding():
    p = random_params((2, 5), 3)
    target = torch.cat([torch.randn(2, 5, 2), torch.zeros(2, 5, 1)], -1)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    junk = target.clone()
    junk[0, 3:] = 1e6
    assert float(mixture_nll(p, junk, mask)) == pytest.approx(float(mixture_nll(p, target, mask)))
    by_hand = -mixture_log_density(p, target)[mask].mean()
    assert float(mixture_nll(p, target, mask)) == pytest.approx(float(by_hand), rel=1e-6)


def test_mixture_sample_matches_its_distribution():
    M = 1
    n = 40_000
    mu = torch.tensor([0.5, -1.0])
    sig = torch.tensor([0.3, 0.8])
    p = {"end_logit": torch.full((n,), math.log(0.2 / 0.8)), "logit_pi": torch.zeros(n, M),
         "mu": mu.expand(n, M, 2), "log_sigma": sig.log().expand(n, M, 2), "rho": torch.full((n, M), 0.6)}
    x = mixture_sample(p, generator=torch.Generator().manual_seed(0))
    assert x.shape == (n, 3)
    torch.testing.assert_close(x[:, :2].mean(0), mu, atol=0.02, rtol=0)
    torch.testing.assert_close(x[:, :2].std(0), sig, atol=0.02, rtol=0)
    corr = torch.corrcoef(x[:, :2].T)[0, 1]
    assert abs(float(corr) - 0.6) < 0.02
    assert set(x[:, 2].unique().tolist()) <= {0.0, 1.0} and abs(float(x[:, 2].mean()) - 0.2) < 0.01
    # bias sharpens: sigma shrinks by exp(-bias)
    sharp = mixture_sample(p, bias=2.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sharp[:, :2].std(0), sig * math.exp(-2.0), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="bias"):
        mixture_sample(p, bias=-1.0)


def test_mixture_sample_picks_components_by_weight():
    n = 20_000
    p = {"end_logit": torch.zeros(n), "logit_pi": torch.log(torch.tensor([0.25, 0.75])).expand(n, 2),
         "mu": torch.tensor([[-10.0, 0.0], [10.0, 0.0]]).expand(n, 2, 2),
         "log_sigma": torch.full((n, 2, 2), -3.0), "rho": torch.zeros(n, 2)}
    x = mixture_sample(p, generator=torch.Generator().manual_seed(1))
    assert abs(float((x[:, 0] > 0).float().mean()) - 0.75) < 0.015


# ---- Gaussian window ---------------------------------------------------------------------
def test_window_equation_by_hand_and_masking():
    torch.manual_seed(0)
    win = GaussianWindow(4, mixtures=2)
    h = torch.randn(3, 4)
    kappa0 = torch.rand(3, 2)
    chars = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)
    w, kappa, phi = win(h, kappa0, chars, mask)
    a, b, k = torch.exp(win.proj(h)).chunk(3, -1)
    assert torch.all(kappa > kappa0)  # the window only moves forward
    torch.testing.assert_close(kappa, kappa0 + k)
    u = torch.arange(6.0)
    expected = (a.unsqueeze(-1) * torch.exp(-b.unsqueeze(-1) * (kappa.unsqueeze(-1) - u) ** 2)).sum(1)
    expected[:, :5] *= mask
    torch.testing.assert_close(phi, expected)
    torch.testing.assert_close(w, torch.einsum("bu,buc->bc", expected[:, :5], chars))
    assert torch.all(phi[1, 2:5] == 0)


def test_window_starts_slowly():
    win = GaussianWindow(8, mixtures=3, advance_init=0.05)
    with torch.no_grad():
        win.proj.weight.zero_()
    _, kappa, _ = win(torch.randn(2, 8), torch.zeros(2, 3), torch.randn(2, 4, 5))
    torch.testing.assert_close(kappa, torch.full((2, 3), 0.05))


# ---- the network ---------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 3])
def test_step_by_step_equals_whole_sequence(layers):
    torch.manual_seed(0)
    model = HandwritingSynthesis(7, hidden_size=12, num_layers=layers, mixtures=3, window_mixtures=2).eval()
    points = torch.randn(2, 9, 3)
    text = torch.randint(0, 7, (2, 4))
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        full, _, phi_full = model(points, text, lengths)
        state, parts, phis = None, [], []
        for t in range(9):
            p, state, phi = model(points[:, t:t + 1], text, lengths, state)
            parts.append(p)
            phis.append(phi)
    for k in full:
        torch.testing.assert_close(torch.cat([p[k] for p in parts], 1), full[k], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(phis, 1), phi_full, atol=1e-5, rtol=1e-5)


def test_padded_text_changes_nothing():
    torch.manual_seed(0)
    model = HandwritingSynthesis(5, hidden_size=8, num_layers=2, mixtures=2, window_mixtures=2).eval()
    points = torch.randn(1, 6, 3)
    short = torch.tensor([[1, 2, 3]])
    padded = torch.tensor([[1, 2, 3, 4, 4, 0]])
    with torch.no_grad():
        a, _, phi_a = model(points, short, torch.tensor([3]))
        b, _, phi_b = model(points, padded, torch.tensor([3]))
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    torch.testing.assert_close(phi_a[..., :3], phi_b[..., :3])


def test_network_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = HandwritingSynthesis(5, hidden_size=8, num_layers=2, mixtures=2, window_mixtures=2)
    points = torch.cat([torch.randn(2, 6, 2), torch.zeros(2, 6, 1)], -1)
    params, _, _ = model(points, torch.randint(0, 5, (2, 3)), torch.tensor([3, 2]))
    mixture_nll(params, points).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_bad_shapes_name_the_argument():
    model = HandwritingSynthesis(5, hidden_size=8, num_layers=1)
    with pytest.raises(ValueError, match="points"):
        model(torch.randn(2, 6, 2), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="text"):
        model(torch.randn(2, 6, 3), torch.zeros(3, 3, dtype=torch.long))


# ---- stroke data ----------------------------------------------------------------------------
def test_offsets_round_trip():
    strokes = [np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 0.0]]), np.array([[3.0, 1.0], [3.0, 2.0]])]
    pts = to_offsets(strokes)
    assert pts.shape == (5, 3) and pts[:, 2].tolist() == [0, 0, 1, 0, 1]
    back = to_strokes(pts)
    assert len(back) == 2
    for a, b in zip(back, strokes):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_font_default_is_deterministic_and_quiet():
    out = io.StringIO()
    with redirect_stdout(out):
        words = zen_words()
        a = font_handwriting(5, seed=3)
    assert out.getvalue() == ""  # the Zen of Python is read, not printed
    assert "beautiful" in words and "explicit" in words
    b = font_handwriting(5, seed=3)
    assert [s.text for s in a] == [s.text for s in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.points, y.points)
        assert x.points[-1, 2] == 1 and np.isfinite(x.points).all()


def test_jsonl_and_iam_xml(tmp_path):
    f = tmp_path / "ink.jsonl"
    f.write_text(json.dumps({"text": "hi", "strokes": [[[0, 0], [1, 1], [2, 0]], [[3, 0], [3, 2]]]}) + "\n\n"
                 + json.dumps({"text": "ok", "strokes": [[[0, 0], [0, 1]]]}) + "\n")
    samples, desc = load_strokes(str(f))
    assert [s.text for s in samples] == ["hi", "ok"] and "2 samples" in desc
    assert samples[0].points[:, 2].tolist() == [0, 0, 1, 0, 1]
    xml = tmp_path / "a01.xml"
    xml.write_text("""<WhiteboardCaptureSession><Transcription><TextLine text="A MOVE"/></Transcription>
      <StrokeSet><Stroke><Point x="10" y="20" time="0"/><Point x="12" y="25" time="1"/></Stroke>
      <Stroke><Point x="15" y="20"/><Point x="15" y="30"/></Stroke></StrokeSet></WhiteboardCaptureSession>""")
    (s,), _ = load_strokes(str(xml))
    assert s.text == "A MOVE"
    np.testing.assert_allclose(s.points[1], [2, -5, 1])  # y flipped: IAM's y points down
    both, _ = load_strokes(str(tmp_path))
    assert len(both) == 3


@pytest.mark.parametrize("line,message", [
    ("{not json", "line 1: not valid JSON"),
    ('{"text": "a"}', 'line 1: expected an object'),
    ('{"text": "", "strokes": [[[0, 0], [1, 1]]]}', "'text' is empty"),
    ('{"text": "a", "strokes": [[[0, 0], [1]]]}', "each a list of \\[x, y\\] pairs"),
    ('{"text": "a", "strokes": [[[0, 0]]]}', "at least 2 points"),
    ('{"text": "a", "strokes": [[[0, 0], [NaN, 1]]]}', "finite"),
])
def test_bad_jsonl_names_the_line(tmp_path, line, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(InputError, match=message) as e:
        load_strokes(str(f))
    assert "bad.jsonl" in str(e.value)


def test_bad_xml_and_paths(tmp_path):
    (tmp_path / "x.xml").write_text("<a><b></a>")
    with pytest.raises(InputError, match="x.xml: not well-formed"):
        load_strokes(str(tmp_path / "x.xml"))
    (tmp_path / "x.xml").write_text("<a><StrokeSet><Stroke><Point x='1' y='2'/></Stroke></StrokeSet></a>")
    with pytest.raises(InputError, match="no transcription"):
        load_strokes(str(tmp_path / "x.xml"))
    with pytest.raises(InputError, match="no such file"):
        load_strokes(str(tmp_path / "missing.jsonl"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .jsonl or .xml"):
        load_strokes(str(tmp_path / "empty"))


def test_encode_batch_shifts_and_scales():
    a = Handwriting("ab", np.array([[0, 0, 0], [2, 0, 1]], dtype=np.float32))
    b = Handwriting("b", np.array([[0, 0, 0], [0, 4, 0], [1, 1, 1]], dtype=np.float32))
    inputs, targets, mask, text, lengths = encode_batch([a, b], {"a": 0, "b": 1}, scale=2.0)
    assert targets.shape == (2, 3, 3) and mask.tolist() == [[True, True, False], [True, True, True]]
    torch.testing.assert_close(targets[1, 1], torch.tensor([0.0, 2.0, 0.0]))
    torch.testing.assert_close(inputs[:, 0], torch.tensor([[0.0, 0.0, 1.0]] * 2))
    torch.testing.assert_close(inputs[:, 1:], targets[:, :-1])
    assert text.tolist() == [[0, 1], [1, 0]] and lengths.tolist() == [2, 1]
    assert a.points[1, 0] == 2  # the samples themselves are left alone


def test_baseline_is_the_gaussian_fit():
    rng = np.random.default_rng(0)
    make = lambda n: [Handwriting("a", np.concatenate([rng.normal(size=(50, 2)), np.zeros((50, 1))], 1))  # noqa: E731
                      for _ in range(n)]
    # unit Gaussian offsets, never an end of stroke: NLL -> log(2 pi) + 1 (and ~0 for the end flag)
    assert baseline_nll(make(200), make(200), 1.0) == pytest.approx(math.log(2 * math.pi) + 1, abs=0.05)


def test_config_checks():
    with pytest.raises(ValueError, match="hidden_size"):
        HandwritingConfig(hidden_size=0)
    with pytest.raises(ValueError, match="val_fraction"):
        HandwritingConfig(val_fraction=0.7)


# ---- the app ---------------------------------------------------------------------------------------
def test_cli_end_to_end(tmp_path, cli):
    run = tmp_path / "run"
    small = ["--set", "samples=240", "--set", "hidden_size=48", "--set", "mixtures=5", "--set", "window_mixtures=3",
             "--set", "batch_size=16", "--set", "train.lr=0.005"]
    code, out, err = cli("handwriting", "train", "--quick", "--epochs", "3", "--out", str(run), *small)
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["val_nll_per_point"] < m["baseline_gaussian_nll_per_point"] - 0.5
    assert 0 <= m["val_window_at_end"] <= 1
    for name in ("handwriting.json", "samples.png", "training_curve.png", "report.html", "model.safetensors"):
        assert (run / name).exists(), name
    code, out, err = cli("handwriting", "evaluate", str(run))
    assert code == 0, err
    assert read_json(run / "metrics.json")["val_nll_per_point"] == pytest.approx(m["val_nll_per_point"], rel=1e-5)
    alphabet = read_json(run / "handwriting.json")["alphabet"]
    word = "".join(alphabet[:4])
    png = tmp_path / "hi.png"
    code, out, err = cli("handwriting", "write", str(run), "--text", word, "--out", str(png), "--max-points", "60")
    assert code == 0, err
    assert out.strip() == str(png) and png.exists()
    written = read_json(png.with_suffix(".json"))
    assert written["text"] == word and sum(len(s) for s in written["strokes"]) <= 60
    back = tmp_path / "back.jsonl"
    back.write_text(png.with_suffix(".json").read_text())  # one line of the training format
    (sample,), _ = load_strokes(str(back))
    assert sample.text == word
    code, out, err = cli("handwriting", "write", str(run), "--text", "Q7!")
    assert code == 2 and "not in the model's alphabet" in err and "'!'" in err
    code, out, err = cli("handwriting", "write", str(run), "--text", word, "--bias", "-1")
    assert code == 2 and "--bias" in err
    code, out, err = cli("textgen", "evaluate", str(run))
    assert code == 2 and "rnnlab handwriting" in err


def test_cli_reads_user_jsonl(tmp_path, cli):
    samples = font_handwriting(60, seed=1, max_words=1)
    data = tmp_path / "ink.jsonl"
    data.write_text("".join(json.dumps({"text": s.text, "strokes": [st.tolist() for st in to_strokes(s.points)]}) + "\n"
                            for s in samples))
    run = tmp_path / "run"
    code, out, err = cli("handwriting", "train", "--quick", "--data", str(data), "--epochs", "1", "--out", str(run),
                         "--set", "hidden_size=16", "--set", "max_points=300")
    assert code == 0, err
    assert f"60 samples from {data}" in err
    longest = max(len(s.points) for s in samples)
    assert ("left out" in err) == (longest > 300)
    assert math.isfinite(read_json(run / "metrics.json")["val_nll_per_point"])


@pytest.mark.slow
def test_quick_default_learns_to_read_its_text(tmp_path, cli):
    """`--quick` on the embedded default: far below the baseline, and the window reaches
    the end of most validation texts."""
    run = tmp_path / "run"
    code, out, err = cli("handwriting", "train", "--quick", "--out", str(run))
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["val_nll_per_point"] < m["baseline_gaussian_nll_per_point"] - 2.0
    assert m["val_window_at_end"] > 0.7
