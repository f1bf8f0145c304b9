"""rnnlab classify: data formats and their errors, metrics, CLI end to end."""

import numpy as np
import pytest
from conftest import as_if_killed, read_json

from rnnlab.apps.classify import auto_frame, classification_report, stratified_split, to_tensors, with_deltas
from rnnlab.data.sequences import load_sequences
from rnnlab.errors import InputError


def make_npz(path, n=60, seed=0):
    """Two classes: rising vs falling noisy ramps of varying length, 2 channels, padded."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 30, 2))
    lengths = rng.integers(8, 31, n)
    y = np.array(["up", "down"] * (n // 2))
    for i in range(n):
        t = np.linspace(0, 1, lengths[i])
        sign = 1 if y[i] == "up" else -1
        X[i, : lengths[i], 0] = sign * t + 0.1 * rng.standard_normal(lengths[i])
        X[i, : lengths[i], 1] = rng.standard_normal(lengths[i])
    np.savez(path, X=X, y=y, lengths=lengths)
    return path


def test_bundled_japanese_vowels_loads_with_variable_lengths():
    tr = load_sequences("JapaneseVowels", "TRAIN")
    te = load_sequences("JapaneseVowels", "TEST")
    assert (len(tr), len(te), tr.channels) == (270, 370, 12)
    assert len({len(s) for s in tr.series}) > 5 and len(set(tr.labels)) == 9


def test_unknown_dataset_fails_offline():
    with pytest.raises(InputError, match="never downloads"):
        load_sequences("FordA", "TRAIN")


def test_csv_layout_and_errors(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("series,label,a\n1,x,0.1\n1,x,0.2\n2,y,0.3\n")
    s = load_sequences(str(p), "TRAIN")
    assert [len(x) for x in s.series] == [2, 1] and s.labels == ["x", "y"]
    p.write_text("series,a\n1,0.1\n")
    with pytest.raises(InputError, match="no 'label' column"):
        load_sequences(str(p), "TRAIN")
    p.write_text("series,label,a\n1,x,0.1\n1,x,oops\n")
    with pytest.raises(InputError, match="column 'a', line 3"):
        load_sequences(str(p), "TRAIN")
    p.write_text("series,label,a\n1,x,0.1\n2,y,0.2\n1,x,0.3\n")
    with pytest.raises(InputError, match="appears again"):
        load_sequences(str(p), "TRAIN")


def test_ucr_archive_formats_agree_and_find_their_test_file(tmp_path):
    """GunPoint as aeon ships it in .ts, .arff and .tsv: the same series and labels; a
    NAME_TRAIN.<ext> finds its NAME_TEST.<ext>; the older UCR .txt (float labels, spaces)."""
    import shutil

    from rnnlab.data.sequences import bundled_path, published_test_file

    src = bundled_path("GunPoint", "TRAIN")
    ref = load_sequences(str(src), "TRAIN")
    for ext in (".arff", ".tsv"):
        shutil.copy(src.with_suffix(ext), tmp_path / f"GP_TRAIN{ext}")
        got = load_sequences(str(tmp_path / f"GP_TRAIN{ext}"), "TRAIN")
        assert got.labels == ref.labels
        np.testing.assert_allclose(np.stack(got.series), np.stack(ref.series), atol=1e-6)
        assert published_test_file(str(tmp_path / f"GP_TRAIN{ext}")) is None  # no test file yet
        shutil.copy(src.with_suffix(ext), tmp_path / f"GP_TEST{ext}")
        assert published_test_file(str(tmp_path / f"GP_TRAIN{ext}")) == tmp_path / f"GP_TEST{ext}"
        assert load_sequences(str(tmp_path / f"GP_TRAIN{ext}"), "TEST").source.endswith(f"GP_TEST{ext}")
    old = tmp_path / "Old_TRAIN.txt"
    old.write_text("  1.0000000e+00  5.0e-01 6.0e-01 nan\n  2.0000000e+00  1.0e-01 2.0e-01 3.0e-01\n\n")
    got = load_sequences(str(old), "TRAIN")
    assert got.labels == ["1", "2"] and [len(x) for x in got.series] == [2, 3]  # trailing NaN: a shorter series
    old.write_text("1 0.5 0.6\n2 0.1 x\n")
    with pytest.raises(InputError, match=r"Old_TRAIN.txt, line 2: 'x' is not a number"):
        load_sequences(str(old), "TRAIN")


def test_wide_csv_one_row_per_series(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("class,t0,t1,t2\nup,0,1,2\ndown,2,1,\n")
    s = load_sequences(str(p), "TRAIN")
    assert s.labels == ["up", "down"] and [x[:, 0].tolist() for x in s.series] == [[0, 1, 2], [2, 1]]
    p.write_bytes(b"\xef\xbb\xbfseries,label,a\n1,x,0.5\n")  # Excel's byte-order mark before the header
    assert load_sequences(str(p), "TRAIN").labels == ["x"]
    p.write_text("label,t0,t1\nup,0,1\ndown,2,?\n")
    with pytest.raises(InputError, match="column 't1', line 3: '\\?' is not a number"):
        load_sequences(str(p), "TRAIN")


def test_npz_ragged_object_array_is_refused(tmp_path):
    p = tmp_path / "r.npz"
    np.savez(p, X=np.array([np.zeros((3, 1)), np.zeros((5, 1))], dtype=object), y=np.array(["a", "b"]))
    with pytest.raises(InputError, match="pickle"):
        load_sequences(str(p), "TRAIN")


def test_report_and_split():
    rep = classification_report(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
    assert rep["accuracy"] == 0.75 and rep["confusion"] == [[1, 1], [0, 2]]
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    keep, held = stratified_split(["a"] * 10 + ["b"] * 10, 0.2, 0)
    assert len(held) == 4 and not set(keep) & set(held)


def test_frames_stack_consecutive_steps():
    a = np.arange(10, dtype=float).reshape(5, 2)  # 5 steps, 2 channels
    b = np.arange(4, dtype=float).reshape(2, 2)
    x, lengths = to_tensors([a, b], np.zeros(2), np.ones(2), frame=2)
    assert x.shape == (2, 3, 4) and lengths.tolist() == [3, 1]
    assert x[0, 0].tolist() == [0, 1, 2, 3] and x[0, 2].tolist() == [8, 9, 0, 0]  # last frame zero-padded
    assert x[1, 0].tolist() == [0, 1, 2, 3] and not x[1, 1:].any()
    assert auto_frame([np.zeros((150, 1))] * 3) == 3 and auto_frame([np.zeros((20, 12))]) == 1


def test_cli_end_to_end(tmp_path, cli):
    data = make_npz(tmp_path / "ramps.npz")
    run = tmp_path / "run"
    code, out, err = cli("classify", "train", "--quick", "--data", str(data), "--out", str(run), "--epochs", "8",
                         "--set", "frame=2")
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["accuracy"] > m["baseline_majority_accuracy"]
    assert (run / "confusion.png").exists() and "per_class" in read_json(run / "classes.json")["report"]
    code, out, err = cli("classify", "evaluate", str(run))
    assert code == 0, err
    code, out, err = cli("classify", "predict", str(run), "--data", str(make_npz(tmp_path / "new.npz", 6, 1)))
    assert code == 0, err
    rows = out.strip().splitlines()
    assert len(rows) == 6 and {row.split("\t")[1] for row in rows} <= {"up", "down"}


def test_cli_class_only_in_test_exits_2(tmp_path, cli):
    tr = tmp_path / "tr.csv"
    te = tmp_path / "te.csv"
    tr.write_text("series,label,a\n1,x,0.1\n2,y,0.2\n")
    te.write_text("series,label,a\n1,z,0.1\n")
    code, out, err = cli("classify", "train", "--data", str(tr), "--set", f"test={te}", "--out", str(tmp_path / "r"))
    assert code == 2 and "'z'" in err and "never in training" in err


@pytest.mark.parametrize("setting, field", [("noise=-0.1", "noise"), ("min_steps=-5", "min_steps"),
                                            ("frame=-1", "frame"), ("conv_kernels=[4,3]", "conv_kernels[0]"),
                                            ("conv_kernels=[5]", "conv_kernels"), ("conv=[0,8]", "conv[0]")])
def test_cli_bad_settings_exit_2_naming_the_field(tmp_path, cli, setting, field):
    code, _, err = cli("classify", "train", "--quick", "--set", setting, "--out", str(tmp_path / "r"))
    assert code == 2 and field in err
    assert not (tmp_path / "r").exists()


def test_runs_from_before_the_conv_front_end_still_load(tmp_path, cli):
    """A run whose config.json has no 'conv' (written before the front end existed) was
    trained without one: evaluate and predict rebuild it so."""
    import json

    data = make_npz(tmp_path / "ramps.npz")
    run = tmp_path / "old"
    code, _, err = cli("classify", "train", "--quick", "--data", str(data), "--out", str(run), "--epochs", "2",
                       "--set", "conv=[]", "--set", "conv_kernels=[]")
    assert code == 0, err
    raw = json.loads((run / "config.json").read_text())
    del raw["config"]["conv"], raw["config"]["conv_kernels"]
    (run / "config.json").write_text(json.dumps(raw))
    code, _, err = cli("classify", "evaluate", str(run))
    assert code == 0, err
    code, out, err = cli("classify", "predict", str(run), "--data", str(data))
    assert code == 0, err


@pytest.mark.slow
def test_quick_default_beats_majority(tmp_path, cli):
    code, out, err = cli("classify", "train", "--quick", "--out", str(tmp_path / "q"))
    assert code == 0, err
    m = read_json(tmp_path / "q" / "metrics.json")
    assert m["accuracy"] > 0.9 > m["baseline_majority_accuracy"]


def test_cli_resume_of_a_killed_run_gives_the_uninterrupted_weights(tmp_path, cli):
    """A run stopped mid-training (its checkpoint holds step 5 of 12) and resumed with
    --resume ends with exactly the weights of a run that was never interrupted."""
    import json

    from safetensors.numpy import load_file

    from rnnlab.training.checkpoint import latest_checkpoint

    data = make_npz(tmp_path / "ramps.npz", n=40)
    common = ["--quick", "--data", str(data), "--epochs", "6", "--seed", "3", "--set", "train.checkpoint_every=1"]
    code, _, err = cli("classify", "train", *common, "--out", str(tmp_path / "full"))
    assert code == 0, err
    code, _, err = cli("classify", "train", *common, "--out", str(tmp_path / "killed"), "--set", "train.max_steps=5")
    assert code == 0, err
    as_if_killed(tmp_path / "killed")
    assert json.loads((latest_checkpoint(tmp_path / "killed") / "trainer.json").read_text())["global_step"] == 5
    code, _, err = cli("classify", "train", "--resume", str(tmp_path / "killed"))
    assert code == 0, err
    a = load_file(latest_checkpoint(tmp_path / "full") / "model.safetensors")
    b = load_file(latest_checkpoint(tmp_path / "killed") / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert json.loads((tmp_path / "killed" / "metrics.json").read_text())["accuracy"] == \
        json.loads((tmp_path / "full" / "metrics.json").read_text())["accuracy"]


def test_deltas_are_the_local_slope_and_follow_each_series():
    t = np.arange(10, dtype=float)[:, None]
    s = np.concatenate([3 * t, t ** 2], 1)
    f = with_deltas(s)
    assert f.shape == (10, 4)
    np.testing.assert_allclose(f[:, :2], s)
    np.testing.assert_allclose(f[2:-2, 2], 3.0)  # a ramp's slope, exactly, away from the edges
    np.testing.assert_allclose(f[2:-2, 3], 2 * t[2:-2, 0])  # d(t^2)/dt = 2t (central difference)
    # in a batch, each series gets its own deltas: padding never leaks into them
    x, lengths = to_tensors([s[:4], s], np.zeros(4), np.ones(4), deltas=True)
    assert x.shape == (2, 10, 4) and lengths.tolist() == [4, 10]
    np.testing.assert_allclose(x[0, :4].numpy(), with_deltas(s[:4]), rtol=1e-6)
    assert (x[0, 4:] == 0).all()


def test_ensemble_averages_independently_trained_members(tmp_path, cli):
    """ensemble=2: each member trains in members/i with its own seed (so its own
    validation split and weights); the saved model's output is the log of the members'
    mean probabilities; evaluate reproduces the accuracy; a resumed run whose members
    had stopped part-way ends with the weights of an uninterrupted one."""
    import dataclasses

    import torch
    from safetensors.numpy import load_file

    from rnnlab.apps.classify import APP, Ensemble

    data = make_npz(tmp_path / "ramps.npz", n=40)
    common = ["--quick", "--data", str(data), "--epochs", "3", "--seed", "4", "--set", "ensemble=2",
              "--set", "train.checkpoint_every=1"]
    code, _, err = cli("classify", "train", *common, "--out", str(tmp_path / "full"))
    assert code == 0, err
    run = tmp_path / "full"
    assert all((run / "members" / str(i) / "finished").exists() for i in (0, 1))
    assert "members/1/training_curve.png" in (run / "report.html").read_text()  # each member's curve
    loaded = APP.load(run)
    cfg, classes, enc, model = loaded  # LoadedRun unpacks as load's old tuple
    assert (loaded.config, loaded.classes, loaded.encoding, loaded.model) == (cfg, classes, enc, model)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    one = dataclasses.replace(cfg, ensemble=1)
    m0, m1 = (APP.trained(run / "members" / str(i), APP.build(one, enc.input_size, len(classes))) for i in (0, 1))
    assert not torch.equal(m0.head.weight, m1.head.weight)
    x, lengths = enc.tensors(load_sequences(str(data), "TRAIN").series[:5])
    with torch.no_grad():
        mean_p = (m0(x, lengths).softmax(-1) + m1(x, lengths).softmax(-1)) / 2
        torch.testing.assert_close(model(x, lengths).exp(), mean_p)
    code, _, err = cli("classify", "evaluate", str(run))
    assert code == 0, err
    assert read_json(run / "metrics.json")["accuracy"] == read_json(run / "classes.json")["report"]["accuracy"]

    killed = tmp_path / "killed"
    code, _, err = cli("classify", "train", *common, "--out", str(killed), "--set", "train.max_steps=2")
    assert code == 0, err
    as_if_killed(killed)  # after step 2 of each member
    for i in (0, 1):
        (killed / "members" / str(i) / "finished").unlink()
    code, _, err = cli("classify", "train", "--resume", str(killed))
    assert code == 0, err
    a, b = load_file(run / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    # resuming a finished ensemble loads its members instead of training them again
    before = (killed / "members" / "0" / "model.safetensors").stat().st_mtime_ns
    code, _, err = cli("classify", "train", "--resume", str(killed))
    assert code == 0, err
    assert (killed / "members" / "0" / "model.safetensors").stat().st_mtime_ns == before
