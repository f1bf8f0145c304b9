"""The training loop: optimiser, schedule, clipping, full or truncated BPTT, early
stopping, checkpoints and exact resume, metrics, progress, and data parallelism.

The Trainer knows nothing about any app. It needs:

- ``loss_fn(model, batch) -> loss`` (a scalar tensor, mean over the batch), or, when
  a recurrent state is carried (``tbptt_steps`` or ``stateful``),
  ``loss_fn(model, batch, state) -> (loss, new_state)``;
- training batches: a function ``epoch -> iterable of batches`` (the order must depend
  only on the epoch, so a resumed run sees the same data), or any re-iterable;
- optionally ``evaluate_fn(model) -> {"val_loss": ..., ...}`` run after each epoch.

Truncated BPTT (Williams & Peng 1990): with ``tbptt_steps = k`` every batch (tensors
whose time axis is ``time_dim``) is cut into consecutive chunks of k steps; one optimiser
step per chunk; the state is carried from chunk to chunk and detached, so gradients
flow back at most k steps. With ``stateful = True`` the state is also carried from one
batch to the next (batch i+1 continues the streams of batch i, as in Keras'
``stateful=True``) and reset at each epoch.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from ..errors import InputError, TrainingDiverged, TrainingInterrupted
from .checkpoint import CHECKPOINT_DIR, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import check_choices
from .io import save_weights
from .metrics import plot_history, write_csv
from .signals import StopRequests

__all__ = ["TrainConfig", "Trainer", "detach_state", "split_time", "shard_batch"]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("none", "cosine", "step", "plateau", "inverse_sqrt")


@dataclass
class TrainConfig:
    """Settings of the training loop (every field round-trips through config.json).

    epochs: passes over the training data. max_steps: stop after this many optimiser
    steps in all (None: no limit). time_limit_minutes: stop after this much wall-clock
    training time (this process; checked after every batch; the run stays resumable). lr,
    optimizer (adam | adamw | sgd | rmsprop),
    weight_decay, momentum (sgd, rmsprop). schedule: none | cosine (to 0 over the epochs)
    | step (× lr_gamma every lr_step_epochs) | plateau (× lr_gamma when the monitored
    metric stalls for lr_step_epochs) | inverse_sqrt (after the warm-up, × sqrt(warmup_steps
    / step): Vaswani et al.'s schedule; needs warmup_steps >= 1). warmup_steps: the
    learning rate rises linearly from lr / warmup_steps to lr over the first warmup_steps
    optimiser steps, on top of any schedule (0: none; what a Transformer needs to start
    training at a useful lr, Vaswani et al. 2017, Liu et al. 2020). clip_norm: clip the global gradient norm (None: no
    clipping; the norm is logged either way). tbptt_steps: truncated BPTT chunk length
    (None: full BPTT). stateful: carry state across consecutive batches. patience: stop
    after this many epochs without improvement of ``monitor`` (None: never).
    monitor / monitor_mode: the validation metric that picks the best checkpoint (None:
    the run keeps its last weights; validation metrics are still logged).
    checkpoint_every: also checkpoint every N optimiser steps (0: at epoch ends).
    keep_checkpoints: how many of the newest complete checkpoints the run keeps (>= 1).
    seed: seeds torch, numpy and random. log_every: plain progress line every N steps.
    """

    epochs: int = 10
    max_steps: int | None = None
    time_limit_minutes: float | None = None
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "none"
    warmup_steps: int = 0
    lr_step_epochs: int = 10
    lr_gamma: float = 0.5
    clip_norm: float | None = 1.0
    tbptt_steps: int | None = None
    stateful: bool = False
    patience: int | None = None
    monitor: str | None = "val_loss"
    monitor_mode: str = "min"
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    seed: int = 0
    log_every: int = 50

    def __post_init__(self) -> None:
        check_choices(self, optimizer=OPTIMIZERS, schedule=SCHEDULES, monitor_mode=("min", "max"))
        if self.epochs < 1:
            raise ValueError(f"epochs: must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        if self.tbptt_steps is not None and self.tbptt_steps < 1:
            raise ValueError(f"tbptt_steps: must be >= 1, got {self.tbptt_steps}")
        if self.clip_norm is not None and self.clip_norm <= 0:
            raise ValueError(f"clip_norm: must be > 0 or null, got {self.clip_norm}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints: must be >= 1, got {self.keep_checkpoints}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every: must be >= 0, got {self.checkpoint_every}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be >= 0, got {self.warmup_steps}")
        if self.schedule == "inverse_sqrt" and self.warmup_steps < 1:
            raise ValueError("schedule: inverse_sqrt decays from the end of the warm-up; set warmup_steps >= 1 "
                             "(e.g. --set train.warmup_steps=400)")

    def step_factor(self, step: int) -> float:
        """The multiplier of the learning rate at optimiser step ``step`` (0-based) from
        the per-step parts of the schedule: the linear warm-up and ``inverse_sqrt``. The
        per-epoch schedules (cosine, step, plateau) act on ``lr`` itself, so the two
        compose. A function of the step alone, so a resumed run continues it exactly."""
        n, w = step + 1, self.warmup_steps
        factor = n / w if n < w else 1.0
        if self.schedule == "inverse_sqrt" and n > w:
            factor = math.sqrt(w / n)
        return factor


def detach_state(state: Any) -> Any:
    """Detach a (nested tuple of) tensor state from the graph; None stays None."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    return type(state)(detach_state(s) for s in state)


def split_time(batch: Any, steps: int, time_dim: int = 1) -> list[Any]:
    """Cut every tensor of ``batch`` along ``time_dim`` into consecutive chunks of
    ``steps`` (the last one may be shorter)."""
    tensors = batch if isinstance(batch, (tuple, list)) else (batch,)
    T = tensors[0].shape[time_dim]
    for t in tensors:
        if t.shape[time_dim] != T:
            raise ValueError(f"batch: tensors disagree on the time axis ({t.shape[time_dim]} vs {T})")
    chunks = []
    for start in range(0, T, steps):
        part = tuple(t.narrow(time_dim, start, min(steps, T - start)) for t in tensors)
        chunks.append(part if isinstance(batch, (tuple, list)) else part[0])
    return chunks


def shard_batch(batch: Any, rank: int, world: int) -> Any:
    """This rank's contiguous share of every tensor's first axis (data parallelism)."""
    if world == 1:
        return batch
    if isinstance(batch, Tensor):
        n = batch.shape[0]
        if n < world:
            raise ValueError(f"batch: {n} items cannot be shared by {world} processes; use a larger batch size")
        return batch.tensor_split(world)[rank]  # equal shares when n divides evenly
    if isinstance(batch, dict):
        return {k: shard_batch(v, rank, world) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard_batch(b, rank, world) for b in batch)
    return batch


def _distributed() -> tuple[int, int]:
    from .distributed import rank, world_size

    return rank(), world_size()


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where tqdm.auto draws a widget bar)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _Progress:
    """tqdm bar on a terminal or in a notebook; plain lines every ``log_every`` steps otherwise."""

    def __init__(self, enabled: bool, log_every: int):
        self.enabled = enabled
        self.tty = enabled and (sys.stderr.isatty() or _in_notebook())
        self.log_every = max(1, log_every)
        self.bar = None

    def start_epoch(self, epoch: int, epochs: int, total: int | None, initial: int) -> None:
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.t0, self.done0 = time.perf_counter(), initial
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                            file=sys.stderr, dynamic_ncols=True)

    def update(self, done: int, global_step: int, loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", step=global_step)
        elif global_step % self.log_every == 0:
            rate = (done - self.done0) / max(time.perf_counter() - self.t0, 1e-9)
            eta = f" ETA {(self.total - done) / rate:.0f}s" if self.total and rate > 0 else ""
            of = f"/{self.total}" if self.total else ""
            print(f"epoch {self.epoch + 1}/{self.epochs} batch {done}{of} step {global_step} "
                  f"loss {loss:.4f} {rate:.1f} batch/s{eta}", file=sys.stderr, flush=True)

    def end_epoch(self, line: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            print(line, file=sys.stderr, flush=True)


class Trainer:
    """Train ``model`` with ``loss_fn`` under ``config``; see the module docstring.

    Args:
        run_dir: where checkpoints, ``model.safetensors``, ``metrics.csv`` and the curve
            go (None: nothing is written, resume is impossible).
        evaluate_fn: ``model -> dict`` of validation metrics, run after every epoch in
            eval mode without gradients.
        time_dim: time axis of batch tensors for ``tbptt_steps``.
        verbose: print progress to stderr.
        stop_fn: ``epoch row -> bool``; True ends training after that epoch (e.g. a
            target accuracy reached).
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, config: TrainConfig | None = None,
                 run_dir: str | Path | None = None, evaluate_fn: Callable[[nn.Module], dict] | None = None,
                 time_dim: int = 1, verbose: bool = True, stop_fn: Callable[[dict], bool] | None = None):
        self.config = config or TrainConfig()
        self.model = model
        self.loss_fn = loss_fn
        self.evaluate_fn = evaluate_fn
        self.stop_fn = stop_fn
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.time_dim = time_dim
        self.rank, self.world = _distributed()
        self.verbose = verbose and self.rank == 0
        self.carries_state = self.config.tbptt_steps is not None or self.config.stateful
        self.train_model = model
        if self.world > 1:
            self.train_model = nn.parallel.DistributedDataParallel(model)
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.history: list[dict] = []
        self._best_state: dict | None = None

    # ------------------------------------------------------------------ set-up
    def _make_optimizer(self) -> torch.optim.Optimizer:
        c, params = self.config, [p for p in self.model.parameters() if p.requires_grad]
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    def _make_scheduler(self):
        c = self.config
        if c.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=c.epochs)
        if c.schedule == "step":
            return torch.optim.lr_scheduler.StepLR(self.optimizer, c.lr_step_epochs, c.lr_gamma)
        if c.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, c.monitor_mode, c.lr_gamma,
                                                              c.lr_step_epochs)
        return None

    @property
    def writes(self) -> bool:
        return self.run_dir is not None and self.rank == 0

    # ------------------------------------------------------------------ loop
    def fit(self, train_batches: Callable[[int], Iterable] | Iterable, resume: bool = False) -> list[dict]:
        """Train; returns the per-epoch history. With ``resume`` the run continues from
        ``run_dir/checkpoint`` exactly where it stopped."""
        c = self.config
        st = {"epoch": 0, "batch_in_epoch": 0, "global_step": 0, "best": None, "bad_epochs": 0,
              "stopped_early": False, "history": [], "epoch_loss_sum": 0.0, "epoch_batches": 0}
        carry = None
        if resume and self.run_dir is None:
            raise InputError("resume: needs a run directory")
        if resume and latest_checkpoint(self.run_dir) is None:
            # killed before its first checkpoint: nothing to lose, start from the beginning
            if self.verbose:
                print(f"{self.run_dir}: no complete checkpoint yet; training from the start", file=sys.stderr)
            resume = False
        if resume:
            saved, carry = load_checkpoint(self.run_dir, self.model, self.optimizer, self.scheduler)
            st.update({k: saved[k] for k in st if k in saved})
            if self.verbose:
                print(f"resuming from step {st['global_step']} ({saved['checkpoint']})", file=sys.stderr, flush=True)
        else:
            _seed_everything(c.seed)
        self.history = st["history"]
        progress = _Progress(self.verbose, c.log_every)
        t_start = time.perf_counter()
        done = (st["stopped_early"] or st["epoch"] >= c.epochs
                or (c.max_steps is not None and st["global_step"] >= c.max_steps))
        with StopRequests(enabled=self.writes) as stop:
            self._loop(train_batches, st, carry, done, progress, t_start, stop)
        self._finish(st)
        return self.history

    def _loop(self, train_batches, st: dict, carry: Any, done: bool, progress: "_Progress", t_start: float,
              stop: StopRequests) -> None:
        c = self.config
        while not done:
            epoch = st["epoch"]
            batches = train_batches(epoch) if callable(train_batches) else train_batches
            total = len(batches) if hasattr(batches, "__len__") else None
            skip = st["batch_in_epoch"]
            if skip == 0:
                carry = None  # streams restart with each epoch
            progress.start_epoch(epoch, c.epochs, total, skip)
            t_epoch = time.perf_counter()
            self.model.train()
            grad_norm = float("nan")
            for i, batch in enumerate(batches):
                if i < skip:
                    continue  # consumed before the checkpoint we resumed from
                if not getattr(train_batches, "pre_sharded", False):  # StreamBatches reads its own rows
                    batch = shard_batch(batch, self.rank, self.world)
                loss_value, grad_norm, carry = self._train_batch(batch, carry, st)
                st["batch_in_epoch"] = i + 1
                st["epoch_loss_sum"] += loss_value
                st["epoch_batches"] += 1
                progress.update(i + 1, st["global_step"], loss_value)
                if c.max_steps is not None and st["global_step"] >= c.max_steps:
                    done, why = True, "max_steps"
                    break
                if c.time_limit_minutes is not None and time.perf_counter() - t_start > 60 * c.time_limit_minutes:
                    done, why = True, "time_limit_minutes"
                    break
                if stop.requested is not None:
                    self._checkpoint(st, carry)
                    progress.end_epoch(f"interrupted at step {st['global_step']}")
                    raise TrainingInterrupted(
                        f"interrupted at step {st['global_step']}; its checkpoint is in {self.run_dir}; continue "
                        f"with --resume {self.run_dir}", stop.exit_code)
                if c.checkpoint_every and st["global_step"] % c.checkpoint_every == 0:
                    self._checkpoint(st, carry)
            if done:  # stopped inside the epoch: evaluate, and keep it resumable from this batch
                progress.end_epoch(f"stopped at step {st['global_step']} ({why})")
                if why == "time_limit_minutes":
                    self._end_epoch(st, grad_norm, time.perf_counter() - t_epoch, progress, partial=True)
                self._checkpoint(st, carry)
                break
            self._end_epoch(st, grad_norm, time.perf_counter() - t_epoch, progress)
            carry = None
            self._checkpoint(st, carry)
            done = st["stopped_early"] or st["epoch"] >= c.epochs

    def _train_batch(self, batch: Any, carry: Any, st: dict) -> tuple[float, float, Any]:
        c = self.config
        chunks = split_time(batch, c.tbptt_steps, self.time_dim) if c.tbptt_steps else [batch]
        total, norm = 0.0, float("nan")
        if not c.stateful:
            carry = None
        for chunk in chunks:
            if self.carries_state:
                loss, carry = self.loss_fn(self.train_model, chunk, carry)
            else:
                loss = self.loss_fn(self.train_model, chunk)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise self._diverged("loss", value, st)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            max_norm = c.clip_norm if c.clip_norm is not None else float("inf")
            norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
            if not math.isfinite(norm):
                raise self._diverged("gradient norm", norm, st)
            self._optimizer_step(c.step_factor(st["global_step"]))
            st["global_step"] += 1
            carry = detach_state(carry)
            total += value
        return total / len(chunks), norm, carry

    def _optimizer_step(self, factor: float) -> None:
        """One optimiser step at ``factor`` × each group's learning rate; the groups keep
        their own ``lr`` (the per-epoch schedulers' and checkpoints' value) untouched."""
        if factor == 1.0:
            self.optimizer.step()
            return
        scheduled = [group["lr"] for group in self.optimizer.param_groups]
        for group, lr in zip(self.optimizer.param_groups, scheduled):
            group["lr"] = lr * factor
        try:
            self.optimizer.step()
        finally:
            for group, lr in zip(self.optimizer.param_groups, scheduled):
                group["lr"] = lr

    def _diverged(self, what: str, value: float, st: dict) -> TrainingDiverged:
        where = f"; the last good checkpoints in {self.run_dir / CHECKPOINT_DIR} are intact" if self.writes else ""
        return TrainingDiverged(
            f"the {what} became {value} at epoch {st['epoch'] + 1}, step {st['global_step'] + 1}: "
            f"training stopped. Try gradient clipping (--set clip_norm=1.0) or a lower learning rate "
            f"(--set lr={self.config.lr / 10:g}){where}"
        )

    def _end_epoch(self, st: dict, grad_norm: float, seconds: float, progress: _Progress,
                   partial: bool = False) -> None:
        """Log the epoch, evaluate, keep the best weights. ``partial``: training stops
        inside this epoch (time limit); it is scored but the loop's position is kept."""
        c = self.config
        row = {"epoch": st["epoch"] + 1, "step": st["global_step"],
               "train_loss": st["epoch_loss_sum"] / max(st["epoch_batches"], 1),
               "grad_norm": grad_norm,  # the lr of the epoch's last step (warm-up and inverse_sqrt included)
               "lr": self.optimizer.param_groups[0]["lr"] * c.step_factor(max(st["global_step"] - 1, 0)),
               "seconds": round(seconds, 3),
               "elapsed_s": round((self.history[-1]["elapsed_s"] if self.history else 0.0) + seconds, 3)}
        if self.evaluate_fn is not None:
            self.model.eval()
            with torch.no_grad():
                metrics = self.evaluate_fn(self.model)
            self.model.train()
            row.update({k: float(v) for k, v in metrics.items()})
        monitored = row.get(c.monitor) if c.monitor else None
        improved = False
        if monitored is not None and math.isfinite(monitored):
            best = st["best"]
            improved = best is None or (monitored < best if c.monitor_mode == "min" else monitored > best)
            if improved:
                st["best"], st["bad_epochs"] = monitored, 0
                # every process keeps the best weights in memory; rank 0 also on disk
                self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                if self.writes:
                    save_weights(self.run_dir / "model.safetensors", self.model, {"epoch": str(st["epoch"] + 1)})
            else:
                st["bad_epochs"] += 1
        if self.scheduler is not None:
            if c.schedule == "plateau":
                if monitored is not None:
                    self.scheduler.step(monitored)
            else:
                self.scheduler.step()
        self.history.append(row)
        st["history"] = self.history
        if not partial:
            st["epoch"] += 1
            st["batch_in_epoch"], st["epoch_loss_sum"], st["epoch_batches"] = 0, 0.0, 0
        if c.patience is not None and st["bad_epochs"] >= c.patience:
            st["stopped_early"] = True
        if self.stop_fn is not None and self.stop_fn(row):
            st["stopped_early"] = True
        shown = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step", "seconds", "elapsed_s")
                         and isinstance(v, float))
        progress.end_epoch(f"epoch {row['epoch']}/{c.epochs} step {row['step']} {shown} ({seconds:.1f}s)"
                           + (" *" if improved else "") + (" early stop" if st["stopped_early"] else ""))
        if self.writes:
            write_csv(self.run_dir / "metrics.csv", self.history)

    def _checkpoint(self, st: dict, carry: Any) -> None:
        if not self.writes:
            return
        parts = None if carry is None else tuple(_flatten(carry))
        save_checkpoint(self.run_dir, self.model, self.optimizer, self.scheduler, dict(st), parts,
                        keep=self.config.keep_checkpoints)

    def _finish(self, st: dict) -> None:
        """Leave the best weights (if a metric was monitored) in the model and on disk."""
        best_path = self.run_dir / "model.safetensors" if self.run_dir is not None else None
        if self.writes:
            if st["best"] is None or not best_path.exists():
                save_weights(best_path, self.model, {"epoch": str(st["epoch"])})
            if self.history:
                plot_history(self.run_dir / "training_curve.png", self.history)
        if st["best"] is not None:
            if self._best_state is not None:
                self.model.load_state_dict(self._best_state)
            elif best_path is not None and best_path.exists():  # resumed: the best epoch was before the kill
                from .io import load_weights

                load_weights(best_path, self.model)


def _flatten(state: Any) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [t for s in state for t in _flatten(s)]


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # (no PYTHONHASHSEED: it only acts when an interpreter starts, and a library must not
    # change its host's environment; nothing here iterates over a set of strings)
