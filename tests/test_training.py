"""The training engine: exact resume, truncated BPTT, clipping, NaN, safe loading."""

import json

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.errors import InputError, TrainingDiverged
from rnnlab.training import (
    TensorBatches,
    TrainConfig,
    Trainer,
    apply_overrides,
    from_dict,
    load_weights,
)
from rnnlab.training.checkpoint import latest_checkpoint


def regression_setup(seed=0):
    torch.manual_seed(123)
    x = torch.randn(64, 6, 2)
    y = x.sum((1, 2)).unsqueeze(1)
    torch.manual_seed(seed)
    model = rnnlab.SeqToVec(2, 1, hidden_size=8, dropout=0.2)  # dropout: the RNG must resume too

    def loss_fn(m, batch):
        xb, yb = batch
        return nn.functional.mse_loss(m(xb), yb)

    return model, loss_fn, TensorBatches(x, y, batch_size=16, seed=0)


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("optimizer,schedule,warmup", [("adam", "cosine", 0), ("sgd", "step", 0),
                                                       ("rmsprop", "none", 0), ("adamw", "none", 0),
                                                       ("adam", "inverse_sqrt", 4), ("adam", "cosine", 8)])
def test_resume_gives_identical_weights(tmp_path, optimizer, schedule, warmup):
    cfg = dict(epochs=3, optimizer=optimizer, schedule=schedule, lr=0.01, lr_step_epochs=1, seed=7,
               warmup_steps=warmup)
    model, loss_fn, batches = regression_setup()
    Trainer(model, loss_fn, TrainConfig(**cfg), run_dir=tmp_path / "a", verbose=False).fit(batches)
    full = params(model)

    # killed after 6 of the 12 steps (mid-epoch), then resumed in a fresh process-like setting
    model, loss_fn, batches = regression_setup()
    Trainer(model, loss_fn, TrainConfig(**cfg, max_steps=6), run_dir=tmp_path / "b", verbose=False).fit(batches)
    model, loss_fn, batches = regression_setup(seed=99)  # different init: must be overwritten
    torch.manual_seed(1234)  # a different global RNG: must be restored
    Trainer(model, loss_fn, TrainConfig(**cfg), run_dir=tmp_path / "b", verbose=False).fit(batches, resume=True)
    resumed = params(model)
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    rows = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4  # header + 3 epochs


def test_tbptt_gradients_equal_hand_chunked_and_state_carries():
    torch.manual_seed(0)
    model = rnnlab.SeqToSeq(1, 1, hidden_size=5, cell="lstm")
    ref = rnnlab.SeqToSeq(1, 1, hidden_size=5, cell="lstm")
    ref.load_state_dict(model.state_dict())
    x = torch.randn(3, 12, 1)
    y = torch.randn(3, 12, 1)
    seen_states = []

    def loss_fn(m, batch, state):
        xb, yb = batch
        seen_states.append(state)
        out, state = m(xb, state)
        return nn.functional.mse_loss(out, yb), state

    cfg = TrainConfig(epochs=1, optimizer="sgd", momentum=0.0, lr=0.1, clip_norm=None, tbptt_steps=4)
    Trainer(model, loss_fn, cfg, verbose=False).fit([(x, y)])

    # by hand: three chunks of 4 steps, state detached between them, one SGD step each
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    state = None
    for k in range(3):
        out, state = ref(x[:, 4 * k:4 * k + 4], state)
        loss = nn.functional.mse_loss(out, y[:, 4 * k:4 * k + 4])
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = tuple(s.detach() for s in state)
    for (k, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    # the carried state equals the state of running the stream (with the same weights) in one go
    torch.manual_seed(0)
    m = rnnlab.SeqToSeq(1, 1, hidden_size=5, cell="lstm")
    _, whole = m(x)
    st = None
    for k in range(3):
        _, st = m(x[:, 4 * k:4 * k + 4], st)
    for a, b in zip(st, whole):
        torch.testing.assert_close(a, b)
    assert seen_states[0] is None and seen_states[1] is not None and not seen_states[1][0].requires_grad


def test_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    before = params(model)

    def loss_fn(m, batch):
        return (m(batch[0]) * 1e6).sum()

    cfg = TrainConfig(epochs=1, optimizer="sgd", momentum=0.0, lr=1.0, clip_norm=0.5)
    hist = Trainer(model, loss_fn, cfg, verbose=False).fit([(torch.ones(4, 3),)])
    delta = torch.cat([(model.state_dict()[k] - before[k]).flatten() for k in before])
    assert delta.norm() <= 0.5 + 1e-5
    assert hist[0]["grad_norm"] > 1e6  # the logged norm is the one before clipping


def test_warmup_and_inverse_sqrt_scale_each_step_and_compose_with_epoch_schedules():
    """With plain SGD and a gradient of exactly 1, each step moves the weight by the
    learning rate it used: linear warm-up to lr over warmup_steps, then lr (or, with
    inverse_sqrt, lr * sqrt(warmup / step)); a per-epoch schedule scales on top."""

    def used_lrs(**cfg):
        model = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            model.weight.fill_(0.0)
        seen = []

        def loss_fn(m, batch):
            seen.append(m.weight.item())
            return m(batch[0]).sum()  # d loss / d w = 1

        batches = [(torch.ones(1, 1),)] * 4
        Trainer(model, loss_fn, TrainConfig(optimizer="sgd", momentum=0.0, clip_norm=None, monitor=None, **cfg),
                verbose=False).fit(batches)
        seen.append(model.weight.item())
        return [round(a - b, 6) for a, b in zip(seen, seen[1:])]

    assert used_lrs(epochs=2, lr=0.4, warmup_steps=4) == [0.1, 0.2, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4]
    inv = used_lrs(epochs=2, lr=0.4, warmup_steps=2, schedule="inverse_sqrt")
    assert inv == [round(0.4 * f, 6) for f in (0.5, 1, (2 / 3) ** 0.5, (2 / 4) ** 0.5, (2 / 5) ** 0.5,
                                                 (2 / 6) ** 0.5, (2 / 7) ** 0.5, (2 / 8) ** 0.5)]
    # step: x 0.5 after each epoch, the warm-up (6 steps) running across the epoch boundary
    stepped = used_lrs(epochs=2, lr=0.6, warmup_steps=6, schedule="step", lr_step_epochs=1, lr_gamma=0.5)
    assert stepped == [0.1, 0.2, 0.3, 0.4, 0.25, 0.3, 0.3, 0.3]


def test_inverse_sqrt_without_warmup_and_a_negative_warmup_are_refused():
    with pytest.raises(ValueError, match="inverse_sqrt decays from the end of the warm-up"):
        TrainConfig(schedule="inverse_sqrt")
    with pytest.raises(ValueError, match="warmup_steps: must be >= 0"):
        TrainConfig(warmup_steps=-1)


def test_planted_nan_stops_cleanly_and_keeps_checkpoint(tmp_path):
    model, loss_fn, batches = regression_setup()
    calls = {"n": 0}

    def poisoned(m, batch):
        calls["n"] += 1
        loss = loss_fn(m, batch)
        return loss * float("nan") if calls["n"] == 7 else loss

    cfg = TrainConfig(epochs=3, checkpoint_every=2)
    with pytest.raises(TrainingDiverged, match=r"step 7.*clip_norm.*lr"):
        Trainer(model, poisoned, cfg, run_dir=tmp_path, verbose=False).fit(batches)
    state = json.loads((latest_checkpoint(tmp_path) / "trainer.json").read_text())
    assert state["global_step"] == 6
    fresh, _, _ = regression_setup()
    load_weights(latest_checkpoint(tmp_path) / "model.safetensors", fresh)
    assert all(torch.isfinite(p).all() for p in fresh.parameters())


def test_early_stopping_keeps_best(tmp_path):
    model, loss_fn, batches = regression_setup()
    scores = iter([3.0, 1.0, 2.0, 2.5, 4.0, 5.0])
    cfg = TrainConfig(epochs=6, patience=2)
    hist = Trainer(model, loss_fn, cfg, run_dir=tmp_path, evaluate_fn=lambda m: {"val_loss": next(scores)},
                   verbose=False).fit(batches)
    assert len(hist) == 4  # best at epoch 2, then two bad epochs
    assert (tmp_path / "training_curve.png").stat().st_size > 1000


@pytest.mark.parametrize("monitor", ["val_loss", None])
def test_monitor_picks_the_best_epoch_or_none_keeps_the_last(tmp_path, monitor):
    model, loss_fn, batches = regression_setup()
    scores = iter([1.0, 2.0, 3.0])  # the first epoch scores best
    seen = []

    def evaluate(m):
        seen.append({k: v.detach().clone() for k, v in m.state_dict().items()})
        return {"val_loss": next(scores)}

    cfg = TrainConfig(epochs=3, monitor=monitor)
    hist = Trainer(model, loss_fn, cfg, run_dir=tmp_path, evaluate_fn=evaluate, verbose=False).fit(batches)
    assert [row["val_loss"] for row in hist] == [1.0, 2.0, 3.0]  # logged either way
    want = seen[0] if monitor else seen[-1]
    assert all(torch.equal(model.state_dict()[k], want[k]) for k in want)
    fresh, _, _ = regression_setup()
    load_weights(tmp_path / "model.safetensors", fresh)
    assert all(torch.equal(fresh.state_dict()[k], want[k]) for k in want)


def test_tampered_and_foreign_weights_give_clear_errors(tmp_path):
    model, loss_fn, batches = regression_setup()
    Trainer(model, loss_fn, TrainConfig(epochs=1), run_dir=tmp_path, verbose=False).fit(batches)
    path = tmp_path / "model.safetensors"
    other = rnnlab.SeqToVec(2, 1, hidden_size=9)
    with pytest.raises(InputError, match="shape"):
        load_weights(path, other)
    with pytest.raises(InputError, match="another model"):
        load_weights(path, nn.Linear(2, 2))
    import pickle

    path.write_bytes(pickle.dumps({"weight": torch.zeros(2)}))  # a pickle must never be executed
    with pytest.raises(InputError, match="not a valid safetensors"):
        load_weights(path, model)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": garbage}")
    with pytest.raises(InputError, match="not a valid safetensors"):
        load_weights(path, model)


def test_config_round_trip_and_errors():
    cfg = TrainConfig(epochs=4, clip_norm=None)
    assert from_dict(TrainConfig, json.loads(json.dumps(cfg.__dict__))) == cfg
    with pytest.raises(InputError, match="unknown key.*epochz"):
        from_dict(TrainConfig, {"epochz": 3}, "config.json")
    with pytest.raises(InputError, match="'epochs'.*integer"):
        from_dict(TrainConfig, {"epochs": "many"}, "config.json")
    with pytest.raises(InputError, match="optimizer"):
        from_dict(TrainConfig, {"optimizer": "lbfgs"})
    assert apply_overrides(cfg, ["lr=0.5", "schedule=cosine"]).lr == 0.5
    with pytest.raises(InputError, match="key=value"):
        apply_overrides(cfg, ["lr"])


def test_bucketed_batches_cover_every_item_once_longest_first():
    """Each batch is listed longest first (the hoisted backend then skips sorting it),
    batches hold items of similar length, and the order replays for the same (seed, epoch)."""
    from rnnlab.training.batches import bucketed_by_length

    rng = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,), generator=rng).tolist()
    batches = bucketed_by_length(lengths, 32, seed=1, epoch=0, pool_batches=50)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all([lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True) for b in batches)
    spread = sum(lengths[b[0]] - lengths[b[-1]] for b in batches) / len(batches)
    assert spread < 20  # vs about 190 for random batches of 32
    assert batches == bucketed_by_length(lengths, 32, seed=1, epoch=0, pool_batches=50)
    assert batches != bucketed_by_length(lengths, 32, seed=1, epoch=1, pool_batches=50)
