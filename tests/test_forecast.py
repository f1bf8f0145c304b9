"""rnnlab forecast: protocol (no leakage), metrics, bad input, CLI end to end."""

import numpy as np
import pytest
from conftest import read_json

from rnnlab.apps.forecast import ForecastConfig, make_plan, windows
from rnnlab.data.timeseries import read_csv_series
from rnnlab.errors import InputError
from rnnlab.tasks.forecast_baselines import forecast_metrics, seasonal_naive


def write_csv(path, n=80, season=12):
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in range(n)]
    y = 100 + np.arange(n) + 10 * np.sin(2 * np.pi * np.arange(n) / season)
    cov = np.cos(np.arange(n))
    path.write_text("date,sales,temp\n" + "".join(f"{d},{v:.3f},{c:.3f}\n" for d, v, c in zip(months, y, cov)))
    return path


def test_no_leakage_scaling_and_windows_use_training_part_only(tmp_path):
    path = write_csv(tmp_path / "s.csv")
    cfg = ForecastConfig(data=str(path), targets=["sales"], covariates=["temp"], input_len=12, horizon=3,
                         backtest_start="2005-01")
    plan = make_plan(cfg)
    assert plan.series.index[plan.start].startswith("2005-01")
    np.testing.assert_allclose(plan.center, plan.z[: plan.start].mean(0))
    np.testing.assert_allclose(plan.scale, plan.z[: plan.start].std(0) + 1e-8)
    # a file whose future (from the backtest start on) differs gives the same scaling and training windows
    lines = path.read_text().splitlines()
    changed = lines[: plan.start + 1] + [f"{ln.split(',')[0]},{float(ln.split(',')[1]) * 50},0"
                                         for ln in lines[plan.start + 1:]]
    path2 = tmp_path / "s2.csv"
    path2.write_text("\n".join(changed) + "\n")
    plan2 = make_plan(ForecastConfig(**{**cfg.__dict__, "data": str(path2)}))
    np.testing.assert_array_equal(plan.center, plan2.center)
    np.testing.assert_array_equal(plan.scale, plan2.scale)
    train_origins = list(range(12, plan.start - plan.horizon + 1))
    for x, y in zip(windows(plan, train_origins), windows(plan2, train_origins)):
        assert np.array_equal(x.numpy(), y.numpy(), equal_nan=True)
    assert plan.series.season == 12


@pytest.mark.parametrize("model", ["direct", "forking"])
def test_anchors_naive_and_seasonal(tmp_path, model):
    path = write_csv(tmp_path / "s.csv")
    base = dict(data=str(path), targets=["sales"], input_len=12, horizon=14, backtest_start="2005-01", model=model)
    for anchor in ("last", "seasonal"):
        plan = make_plan(ForecastConfig(**base, anchor=anchor))
        t0, z = plan.start, plan.z
        _, _, y, anchors = windows(plan, [t0])
        if model == "forking":  # the forecast from the window's last step is the direct one
            y = y[:, -1]
        want = [z[t0 - 1]] * 14 if anchor == "last" else [z[t0 + k - 12 * (k // 12 + 1)] for k in range(14)]
        np.testing.assert_allclose(anchors[0].numpy(), np.array(want), rtol=1e-6)
        # targets are the values relative to their anchors, in units of the training scale
        np.testing.assert_allclose(y[0].numpy() * plan.scale + anchors[0].numpy(), z[t0:t0 + 14], rtol=1e-5)
    with pytest.raises(InputError, match="anchor=seasonal"):
        make_plan(ForecastConfig(**{**base, "input_len": 6}, anchor="seasonal"))


def test_forking_targets_cover_every_step_and_stop_at_the_window_end(tmp_path):
    path = write_csv(tmp_path / "s.csv")
    plan = make_plan(ForecastConfig(data=str(path), targets=["sales"], input_len=12, horizon=3,
                                    backtest_start="2005-01", model="forking"))
    z, L, h = plan.z, 12, 3
    t0 = plan.start - h  # the last training origin
    x, _, y, anchors = windows(plan, [t0, len(z) - 1])
    assert y.shape == (2, L, h, 1)
    for j in range(L):  # at window step j (time u), the next h values relative to z[u]
        u = t0 - L + j
        np.testing.assert_allclose(y[0, j, :, 0].numpy() * plan.scale, z[u + 1:u + 1 + h, 0] - z[u, 0],
                                   rtol=1e-4, atol=1e-4)
    assert y[0, -1].numpy() * plan.scale + anchors[0].numpy() == pytest.approx(z[t0:t0 + h], rel=1e-5)
    # inputs are causal: relative to the window's first value, not its last
    np.testing.assert_allclose(x[0, :, 0].numpy() * plan.scale, z[t0 - L:t0, 0] - z[t0 - L, 0], rtol=1e-4, atol=1e-4)
    # an origin near the end: targets past the data are NaN, and the loss skips them
    assert np.isnan(y[1, -1, 1:]).all() and not np.isnan(y[1, -1, 0]).any()


@pytest.mark.parametrize("model", ["forking", "direct", "seq2seq"])
@pytest.mark.parametrize("likelihood", ["none", "gaussian"])
def test_every_model_predicts_a_horizon_and_trains(tmp_path, model, likelihood):
    import torch

    from rnnlab.apps.forecast import build_model

    path = write_csv(tmp_path / "s.csv")
    cfg = ForecastConfig(data=str(path), targets=["sales"], input_len=12, horizon=3, backtest_start="2005-01",
                         model=model, likelihood=likelihood, ensemble=2, hidden_size=8)
    plan = make_plan(cfg)
    torch.manual_seed(0)
    net = build_model(cfg, plan)
    x, fut, y, _ = windows(plan, list(range(12, plan.start - 3 + 1)))
    mean, sd = net.predict(x, fut)
    assert mean.shape == (len(x), 3, 1) and (sd is None) == (likelihood == "none")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = float(net.loss(x, fut, y))
    for _ in range(30):
        opt.zero_grad()
        loss = net.loss(x, fut, y)
        loss.backward()
        opt.step()
    assert float(net.loss(x, fut, y)) < first


def test_several_targets_get_their_own_metrics(tmp_path):
    import torch

    from rnnlab.apps.forecast import backtest, build_model

    path = write_csv(tmp_path / "s.csv")  # targets by default: sales and temp
    cfg = ForecastConfig(data=str(path), input_len=12, horizon=3, backtest_start="2005-01", hidden_size=8,
                         baselines=["naive"])
    plan = make_plan(cfg)
    assert plan.series.target_names == ["sales", "temp"]
    torch.manual_seed(0)
    metrics, _ = backtest(build_model(cfg, plan), plan, cfg)
    for prefix in ("", "baseline_naive_"):
        mean_mae = (metrics[prefix + "mae_sales"] + metrics[prefix + "mae_temp"]) / 2
        assert metrics[prefix + "mae"] == pytest.approx(mean_mae)
        # MASE is scale-free per target; pooled errors of two scales are not
        mean_mase = (metrics[prefix + "mase_sales"] + metrics[prefix + "mase_temp"]) / 2
        assert metrics[prefix + "mase"] == pytest.approx(mean_mase)
    assert metrics["baseline_naive_mae_sales"] > 0.5  # sales moves by about 1 a month


def test_metrics_by_hand():
    y, yhat, train = np.array([10.0, 20.0]), np.array([12.0, 15.0]), np.array([1.0, 2.0, 4.0])
    m = forecast_metrics(y, yhat, train, 1)
    assert m["mae"] == pytest.approx(3.5)
    assert m["rmse"] == pytest.approx(np.sqrt((4 + 25) / 2))
    assert m["mape"] == pytest.approx(100 * (0.2 + 0.25) / 2)
    assert m["smape"] == pytest.approx(100 * (4 / 22 + 10 / 35) / 2)
    assert m["mase"] == pytest.approx(3.5 / 1.5)
    np.testing.assert_array_equal(seasonal_naive(np.arange(24.0), 3, 12), [12.0, 13.0, 14.0])


@pytest.mark.parametrize(
    "content,kwargs,match",
    [
        ("date,y\n2000-01-01,1\n2000-02-01,abc\n2000-03-01,3\n", {}, r"column 'y', line 3: 'abc' is not a number"),
        ("date,y\n2000-01-01,1\n2000-02-01,\n2000-03-01,3\n", {}, r"column 'y', line 3: missing value.*fill"),
        ("date,y\n2000-01-01,1\n2000-02-01,2\n2000-02-01,3\n", {}, r"line 4: date 2000-02-01 appears twice"),
        ("date,y\n2000-01-01,1\n2000-02-01,2\n2000-02-20,3\n2000-03-01,4\n", {}, r"irregular dates"),
        ("date,y\n2000-01-01,1\n2000-02-01,2\n", {"targets": ["sales"]}, r"no target column 'sales'"),
        ("date,y\n", {}, r"no rows"),
        ("y\n1,5\n2,6\n", {}, r"line 2: 2 fields but the header names 1"),
        ("date;y\n2000-01-01;1,5\n2000-02-01;x\n", {}, r"column 'y', line 3: 'x' is not a number"),
    ],
)
def test_bad_csv_messages(tmp_path, content, kwargs, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        read_csv_series(path, **kwargs)


@pytest.mark.parametrize(
    "content,names,first,season,index",
    [
        # semicolons and decimal commas (a European spreadsheet's export)
        ("Datum;Wert\n2020-01-01;1,5\n2020-01-02;-2,25\n2020-01-03;3,0\n", ["Wert"], 1.5, 7, "2020-01-01"),
        # tabs, hourly steps: a day's season, times kept in the labels
        ("ts\tload\n2020-01-01 00:00\t1.5\n2020-01-01 01:00\t2\n2020-01-01 02:00\t3\n", ["load"], 1.5, 24,
         "2020-01-01 00:00"),
        # no header: the first row is data
        ("1.5\n2\n3\n", ["value"], 1.5, 1, "1"),
        ("2021-01-04,1.5,7\n2021-01-11,2,8\n2021-01-18,3,9\n", ["value1", "value2"], 1.5, 52, "2021-01-04"),
        ("q|y\n2001-01-01|1.5\n2001-04-01|2\n2001-07-01|3\n", ["y"], 1.5, 4, "2001-01-01"),
    ],
)
def test_csv_dialects_headerless_files_and_seasons(tmp_path, content, names, first, season, index):
    path = tmp_path / "s.csv"
    for bom in (b"", b"\xef\xbb\xbf"):  # and as Excel saves "CSV UTF-8": a byte-order mark first
        path.write_bytes(bom + content.encode())
        s = read_csv_series(path)
        assert s.target_names == names and s.values[0, 0] == first and s.season == season and s.index[0] == index
        assert len(s) == 3


def test_fill_interpolate_and_drop(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("t,y\n1,1\n2,\n3,3\n4,4\n")
    s = read_csv_series(path, fill="interpolate")
    np.testing.assert_allclose(s.values[:, 0], [1, 2, 3, 4])
    assert len(read_csv_series(path, fill="drop")) == 3


def test_too_short_series_is_refused(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("y\n" + "\n".join(str(i) for i in range(10)) + "\n")
    with pytest.raises(InputError, match="too short|shorter"):
        make_plan(ForecastConfig(data=str(path), input_len=8, horizon=2))


def test_cli_end_to_end(tmp_path, cli):
    path = write_csv(tmp_path / "sales.csv", n=72)
    run = tmp_path / "run"
    code, out, err = cli("forecast", "train", "--quick", "--data", str(path), "--out", str(run), "--epochs", "3",
                         "--set", "targets=[\"sales\"]", "--set", "covariates=[\"temp\"]", "--set", "input_len=12",
                         "--set", "horizon=3", "--set", 'baselines=["naive","seasonal_naive"]')
    assert code == 0, err
    for name in ("config.json", "model.safetensors", "metrics.csv", "metrics.json", "forecast.png",
                 "training_curve.png", "report.html", "checkpoints"):
        assert (run / name).exists(), name
    metrics = read_json(run / "metrics.json")
    assert {"mae", "rmse", "mape", "smape", "mase", "baseline_naive_mape"} <= set(metrics)
    assert all(isinstance(v, (int, float)) for v in metrics.values())

    code, out, err = cli("forecast", "evaluate", str(run))
    assert code == 0, err
    assert read_json(run / "metrics.json")["mae"] == pytest.approx(metrics["mae"], rel=1e-6)

    code, out, err = cli("forecast", "predict", str(run))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "step,target,forecast" and len(lines) == 4 and lines[1].startswith("2006-01")

    code, out, err = cli("forecast", "config", "--quick")
    assert code == 0 and '"horizon"' in out and '"train"' in out

    code, out, err = cli("runs", str(tmp_path))
    assert code == 0 and "forecast" in out and "mae=" in out

    # a run directory refuses to be overwritten, and --resume of a finished run is a no-op
    code, _, err = cli("forecast", "train", "--data", str(path), "--out", str(run))
    assert code == 2 and "already holds a run" in err


@pytest.mark.parametrize(
    "args,match",
    [
        (["forecast", "train", "--data", "nosuchfile.csv"], "no such file"),
        (["forecast", "train", "--data", "sunspots", "--set", "hidden_sise=3"], "unknown key"),
        (["forecast", "train", "--data", "sunspots", "--set", "model=transformer"], "model"),
        (["forecast", "evaluate", "/nonexistent/run"], "no such run directory"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, cli, args, match):
    code, out, err = cli(*args, "--out", str(tmp_path / "r")) if args[1] == "train" else cli(*args)
    assert code == 2, (out, err)
    assert match in err and "Traceback" not in err
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_cli_run_of_another_app_or_tampered(tmp_path, cli):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"app": "translate", "config": {}}')
    code, _, err = cli("forecast", "evaluate", str(run))
    assert code == 2 and "rnnlab translate" in err
    (run / "config.json").write_text('{"app": "forecast", "config": {"data": "sunspots", "bogus": 1}}')
    code, _, err = cli("forecast", "evaluate", str(run))
    assert code == 2 and "bogus" in err
    (run / "config.json").write_text("{not json")
    code, _, err = cli("forecast", "evaluate", str(run))
    assert code == 2 and "not valid JSON" in err


@pytest.mark.slow
def test_quick_beats_naive_on_default(tmp_path, cli):
    code, out, err = cli("forecast", "train", "--quick", "--out", str(tmp_path / "q"))
    assert code == 0, err
    m = read_json(tmp_path / "q" / "metrics.json")
    assert m["mae"] < m["baseline_naive_mae"]
