"""Panels: the readers and their errors, the windows (no leakage), the global networks
(quantiles that cannot cross, likelihoods, sample paths), the metrics, training that
learns a known seasonal panel, the CLI and the estimator end to end, resume bitwise."""

import json

import numpy as np
import pytest
import torch
from conftest import as_if_killed, read_json

from rnnlab.apps.forecast import ForecastConfig
from rnnlab.data.panel import is_panel_source, load_panel, read_tsf, write_seasonal_panel
from rnnlab.errors import InputError
from rnnlab.models.global_forecasting import GlobalForecastNet, pinball_loss
from rnnlab.tasks import panel_forecasting as pf
from rnnlab.tasks.panel_windows import DEFAULT_LEVELS, PanelArrays, forking_batch, make_panel_plan, training_origins

COVS = ["--set", 'covariates=["promo"]', "--set", 'past_covariates=["temp"]', "--set", 'static_covariates=["group"]']


def long_csv(path, rows):
    path.write_text("unique_id,ds,y\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    return path


# ---------------------------------------------------------------------------- readers
def test_long_layout_with_three_kinds_of_covariates(tmp_path):
    path = write_seasonal_panel(tmp_path / "p.csv", n_series=6, length=36, horizon=4)
    p = load_panel(str(path), past=["temp"], future=["promo"], static=["group"])
    assert is_panel_source(str(path)) and len(p) == 6 and p.freq == "MS" and p.season == 12
    lengths = [len(v) for v in p.values]
    assert min(lengths) >= 24 and len(set(lengths)) > 1  # different lengths
    for v, fut, past in zip(p.values, p.future, p.past):
        assert fut.shape == (len(v) + 4, 1) and past.shape == (len(v), 1)  # future rows run past the end
        assert set(np.unique(fut)) <= {0.0, 1.0}
    assert p.static_names == ["group=A", "group=B"]
    np.testing.assert_array_equal(p.static, [[1, 0], [0, 1]] * 3)
    # series start at different months; labels continue past the end
    assert len({p.labels(i, 1)[0] for i in range(6)}) > 1
    assert p.labels(0, lengths[0] + 2)[-1] > p.labels(0, lengths[0])[-1]


def test_wide_folder_and_tsf_layouts(tmp_path):
    wide = tmp_path / "w.csv"
    wide.write_text("date,a,b\n2000-01-01,1,\n2000-02-01,2,5\n2000-03-01,3,6\n2000-04-01,4,7\n2000-05-01,,8\n")
    p = load_panel(str(wide), layout="wide")
    assert p.ids == ["a", "b"] and [list(v) for v in p.values] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert p.labels(1, 1) == ["2000-02"]
    folder = tmp_path / "f"
    folder.mkdir()
    for name, vals in (("x", [1, 2, 3]), ("y", [4, 5, 6, 7])):
        (folder / f"{name}.csv").write_text("value\n" + "\n".join(map(str, vals)) + "\n")
    p = load_panel(str(folder))
    assert p.ids == ["x", "y"] and [len(v) for v in p.values] == [3, 4]
    tsf = tmp_path / "t.tsf"
    tsf.write_text("# a comment\n@relation t\n@attribute series_name string\n@attribute start_timestamp date\n"
                   "@frequency monthly\n@horizon 3\n@missing true\n@data\n"
                   "S1:2001-03-01 00-00-00:1,2,?,4\nS2:2002-01-01 00-00-00:5,6,7\n")
    p = read_tsf(tsf)
    assert p.ids == ["S1", "S2"] and p.horizon == 3 and p.season == 12 and np.isnan(p.values[0][2])
    assert p.labels(0, 2) == ["2001-03", "2001-04"]


def test_m1_yearly_is_aeons_file_as_monash_ships_it():
    p = load_panel("m1_yearly")
    assert len(p) == 181 and p.horizon == 6 and p.freq == "YS" and p.season == 1
    lengths = [len(v) for v in p.values]
    assert (min(lengths), max(lengths)) == (15, 58)
    assert p.ids[0] == "T1" and p.labels(0, 1) == ["1972"] and p.values[0][0] == 3600


@pytest.mark.parametrize("rows,match", [
    ([("a", "2000-01-01", 1), ("a", "2000-02-01", 2), ("a", "2000-02-01", 3)],
     r"series 'a', line 4: timestamp '2000-02-01' repeats line 3"),
    ([("a", "2000-01-01", 1), ("a", "2000-02-01", 2), ("a", "2000-03-01", 3), ("a", "2000-05-01", 4)],
     r"series 'a', line 5: 2000-05-01.* irregular"),
    ([("a", "2000-01-01", 1), ("a", "2000-02-01", 2), ("a", "2000-03-01", 3),
      ("b", "2000-01-03", 1), ("b", "2000-01-10", 2), ("b", "2000-01-17", 3)], r"mixed frequencies: series"),
    ([("a", 1, 1), ("a", 2, "x")], r"column 'y', line 3: 'x' is not a number"),
    ([("a", 1, 1), ("a", 2, ""), ("a", 3, 3)], r"series 'a', line 3: no value in 'y' before"),
    ([], r"no rows after the header"),
])
def test_long_layout_errors_name_file_series_and_line(tmp_path, rows, match):
    path = long_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(InputError, match=match) as e:
        load_panel(str(path))
    assert str(path) in str(e.value)


def test_plan_skips_short_series_and_checks_counts(tmp_path):
    rows = [("long", k, k % 3 + 1) for k in range(30)] + [("short", k, 1) for k in range(5)]
    p = load_panel(str(long_csv(tmp_path / "p.csv", rows)))
    plan = make_panel_plan(p, 8, 6, None, "forking", "gaussian", [0.1, 0.9])
    assert plan.skipped == ("short",) and plan.panel.ids == ["long"]
    neg = load_panel(str(long_csv(tmp_path / "n.csv", [("c", k, 2 - k % 4) for k in range(30)])))
    with pytest.raises(InputError, match=r"series 'c', step 3: -1 is not a count \(likelihood=negbin"):
        make_panel_plan(neg, 8, 3, None, "deepar", "negbin", None)


# ---------------------------------------------------------------------------- windows
def test_forking_windows_see_no_value_at_or_after_the_limit(tmp_path):
    path = write_seasonal_panel(tmp_path / "p.csv", n_series=3, length=40)
    p = load_panel(str(path))
    plan = make_panel_plan(p, 12, 6, None, "forking", "gaussian", None)
    arr = PanelArrays(plan)
    s, o, lim = training_origins(plan)
    assert (o < lim).all() and (lim == torch.tensor(plan.n_fit)[s]).all()
    x, dec, target, scale, last = forking_batch(plan, arr, s, o, lim)
    assert x.shape == (len(s), 12, plan.n_inputs) and target.shape == (len(s), 12, 6)
    # the value of every known target is the series' own, relative to its step, in units of the scale
    k = len(s) - 1  # the newest window of the last series: its last step's targets reach the limit
    i, t = int(s[k]), int(o[k])
    z = plan.z[i]
    want = (z[t:t + 6] - z[t - 1]) / float(scale[k])
    got = target[k, -1].numpy()
    known = np.arange(t, t + 6) < plan.n_fit[i]
    np.testing.assert_allclose(got[known], want[known], rtol=1e-4)
    assert np.isnan(got[~known]).all() and (~known).any()
    # changing the values after the limit changes nothing the network sees
    changed = [v.copy() for v in plan.z]
    changed[i][plan.n_fit[i]:] *= 100
    import dataclasses
    plan2 = dataclasses.replace(plan, z=changed)
    for a, b in zip(forking_batch(plan, arr, s, o, lim), forking_batch(plan2, PanelArrays(plan2), s, o, lim)):
        assert torch.equal(torch.nan_to_num(a, nan=-9), torch.nan_to_num(b, nan=-9))


# ---------------------------------------------------------------------------- networks
def test_forking_quantiles_never_cross_and_pinball_is_the_quantile_loss():
    torch.manual_seed(0)
    net = GlobalForecastNet(4, 1, 2, 5, "forking", quantiles=DEFAULT_LEVELS, ensemble=2)
    q = net.forking(torch.randn(8, 10, 4) * 5, torch.randn(8, 10, 5, 1), torch.randn(8, 2), torch.zeros(8).long())
    assert q.shape == (2, 8, 10, 5, len(DEFAULT_LEVELS))
    assert (q.diff(dim=-1) > 0).all()
    # the pinball loss of a constant quantile is minimised at the sample quantile
    y = torch.randn(2000)
    best = [min(np.linspace(-2, 2, 81), key=lambda c: float(pinball_loss(torch.full((2000, 1), c), y,
                                                                         torch.tensor([p])))) for p in (0.1, 0.9)]
    np.testing.assert_allclose(best, [float(y.quantile(0.1)), float(y.quantile(0.9))], atol=0.06)


@pytest.mark.parametrize("likelihood", ["gaussian", "student_t", "negbin"])
def test_deepar_likelihoods_and_reproducible_sample_paths(likelihood):
    torch.manual_seed(0)
    net = GlobalForecastNet(3, 1, 0, 4, "deepar", likelihood=likelihood, ensemble=2)
    raw = net.params(torch.randn(5, 9, 3), torch.zeros(5, 0), torch.zeros(5).long())
    assert raw.shape[:3] == (2, 5, 9)
    target = torch.rand(5, 9) * 3
    target[0, :2] = float("nan")
    loss = net.nll(raw, target, torch.ones(5, 1) * 2)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    args = (torch.randn(5, 6, 3), torch.randn(5, 4, 1), torch.zeros(5, 0), torch.zeros(5).long(), torch.ones(5, 1), 7)
    a, b = net.sample(*args, seed=3), net.sample(*args, seed=3)
    assert a.shape == (5, 14, 4) and torch.equal(a, b) and not torch.equal(a, net.sample(*args, seed=4))
    if likelihood == "negbin":  # counts / scale: non-negative multiples of 1 / scale
        assert (a >= 0).all() and torch.allclose(a, a.round())


def test_scores_match_hand_computed_values():
    levels = DEFAULT_LEVELS
    y = [np.array([10.0, 12.0])]
    q = np.tile(np.array([11.0, 11.0])[:, None], (1, len(levels)))[None]  # every quantile at 11
    m = pf.scores(y, q, levels, [np.array([1.0, 3.0, 5.0])], season=1)
    assert m["mase"] == pytest.approx(1 / 2)  # MAE 1, in-sample mean |diff| 2
    assert m["smape"] == pytest.approx(np.mean([200 / 21, 200 / 23]))
    assert m["coverage80"] == 0 and m["coverage95"] == 0
    # MSIS of a zero-width interval: 2/0.05 × the misses, over the scale
    assert m["msis"] == pytest.approx(np.mean([40 * 1, 40 * 1]) / 2)
    lv = np.asarray(levels)
    want = sum(2 * np.maximum(lv * d, (lv - 1) * d).sum() for d in (-1.0, 1.0)) / 22 / len(lv)
    assert m["wql"] == pytest.approx(want)


# ---------------------------------------------------------------------------- training
def test_learns_a_known_seasonal_panel_with_calibrated_intervals(tmp_path):
    """40 generated series (noise 5% of the level): the global network beats the seasonal
    naive forecast (whose error has twice the noise's variance) and its calibrated 80%
    interval covers about 80% of the held-out values."""
    path = write_seasonal_panel(tmp_path / "p.csv", n_series=40, length=60, noise=0.05)
    cfg = ForecastConfig(data=str(path), horizon=6, covariates=["promo"], static_covariates=["group"],
                         ensemble=1, quick_baselines=True)
    cfg.train.epochs, cfg.train.seed = 15, 0
    m = pf.train_panel(cfg, tmp_path / "run", False, False, lambda _: None)
    assert m["mase"] < 0.8 * m["baseline_seasonal_naive_mase"], m
    assert 0.65 <= m["coverage80"] <= 0.92 and m["coverage95"] >= 0.8, m
    assert (tmp_path / "run" / "forecast.png").stat().st_size > 10_000


def test_cli_train_predict_long_table_with_covariates(tmp_path, cli):
    data = write_seasonal_panel(tmp_path / "panel.csv", n_series=8, length=40, horizon=6)
    run = tmp_path / "run"
    code, _, err = cli("forecast", "train", "--data", str(data), "--set", "horizon=6", "--set",
                       "quantiles=[0.1,0.5,0.9]", *COVS, "--set", "train.epochs=2", "--set", "ensemble=1",
                       "--set", "quick_baselines=true", "--out", str(run))
    assert code == 0, err
    assert "8 series" in err and "model=forking" in err
    m = read_json(run / "metrics.json")
    assert {"mase", "smape", "wql", "coverage80", "coverage95", "msis", "baseline_seasonal_naive_mase"} <= set(m)
    code, out, err = cli("forecast", "predict", str(run))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "unique_id,ds,forecast,q0.1,q0.5,q0.9" and len(lines) == 1 + 8 * 6
    q = np.array([[float(v) for v in ln.split(",")[3:]] for ln in lines[1:]])
    assert (np.diff(q, axis=1) >= 0).all()
    # the future covariate stops short of the horizon: one line naming the file, the series and the step
    cut = tmp_path / "cut.csv"
    rows = data.read_text().splitlines()
    last_s7 = max(k for k, ln in enumerate(rows) if ln.startswith("s7,"))
    cut.write_text("\n".join(rows[:last_s7 - 2] + rows[last_s7 + 1:]) + "\n")
    code, _, err = cli("forecast", "predict", str(run), "--data", str(cut))
    assert code == 2 and f"{cut}, series 's7': the future covariates (promo) stop before step" in err, err
    assert "Traceback" not in err


def test_deepar_count_panel_and_unknown_ids(tmp_path, cli):
    rng = np.random.default_rng(0)
    rows = [(f"c{i}", k, int(rng.poisson(3 + 2 * np.sin(k / 2)))) for i in range(6) for k in range(30)]
    data = long_csv(tmp_path / "counts.csv", rows)
    run = tmp_path / "run"
    code, _, err = cli("forecast", "train", "--data", str(data), "--set", "model=deepar", "--set", "likelihood=negbin",
                       "--set", "horizon=4", "--set", "id_embedding=3", "--set", "train.epochs=2", "--set",
                       "ensemble=1", "--set", "samples=50", "--set", "quick_baselines=true", "--out", str(run))
    assert code == 0, err
    code, out, err = cli("forecast", "predict", str(run))
    assert code == 0, err
    q = np.array([[float(v) for v in ln.split(",")[2:]] for ln in out.strip().splitlines()[1:]])
    assert len(q) == 24 and (q >= 0).all() and np.allclose(q, q.round())  # quantiles of counts are counts
    other = long_csv(tmp_path / "new.csv", [("new", k, 2) for k in range(30)])
    code, _, err = cli("forecast", "predict", str(run), "--data", str(other))
    assert code == 2 and "series 'new' was not in the training panel" in err and "id_embedding=0" in err
    code, _, err = cli("forecast", "train", "--data", str(data), "--set", "likelihood=student_t", "--out",
                       str(tmp_path / "r2"))
    assert code == 2 and "a likelihood is model=deepar's" in err


def test_resume_of_a_global_model_is_bitwise(tmp_path, cli):
    from safetensors.numpy import load_file

    data = write_seasonal_panel(tmp_path / "p.csv", n_series=6, length=30)
    common = ["--data", str(data), "--set", "horizon=4", "--set", "train.epochs=3", "--set", "ensemble=1",
              "--set", "quick_baselines=true", "--set", "train.checkpoint_every=1", "--set", "batch_size=16"]
    assert cli("forecast", "train", *common, "--out", str(tmp_path / "full"))[0] == 0
    code, _, err = cli("forecast", "train", *common, "--set", "train.max_steps=5", "--out", str(tmp_path / "killed"))
    assert code == 0, err
    as_if_killed(tmp_path / "killed")
    code, _, err = cli("forecast", "train", "--resume", str(tmp_path / "killed"))
    assert code == 0, err
    a = load_file(tmp_path / "full" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert read_json(tmp_path / "full" / "metrics.json")["mase"] == read_json(tmp_path / "killed" /
                                                                              "metrics.json")["mase"]


def test_estimator_on_a_long_dataframe_and_a_dict_of_series(tmp_path):
    import pandas as pd

    from rnnlab import Forecaster

    df = pd.read_csv(write_seasonal_panel(tmp_path / "p.csv", n_series=5, length=30, horizon=3))
    df = df.drop(columns=["temp", "group"])  # promo: a future covariate, its rows run 3 steps past each end
    f = Forecaster(horizon=3, epochs=2, ensemble=1, quick_baselines=True, quantiles=[0.05, 0.5, 0.95]).fit(df)
    out = f.predict()
    assert list(out.columns) == ["unique_id", "ds", "forecast", "q0.05", "q0.5", "q0.95"]
    assert len(out) == 15 and sorted(out["unique_id"].unique()) == [f"s{i}" for i in range(5)]
    assert (out["q0.05"] <= out["q0.95"]).all()
    assert "mase" in f.metrics_
    f.save(tmp_path / "saved")
    from rnnlab import load

    again = load(tmp_path / "saved")
    pd.testing.assert_frame_equal(again.predict(), out)
    series = {sid: g.set_index(pd.to_datetime(g["ds"]))["y"].dropna() for sid, g in df.groupby("unique_id")}
    out2 = Forecaster(horizon=3, epochs=2, ensemble=1, quick_baselines=True).fit(series).predict()
    assert len(out2) == 15 and json.loads(json.dumps(list(out2.columns)))[:3] == ["unique_id", "ds", "forecast"]
