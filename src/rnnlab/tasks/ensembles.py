"""Ensembles of independently trained networks, as the classify and docs apps train them:
where each member lives in the run directory, its seed, and resuming an ensemble part-way."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from ..models.ensemble import Ensemble
from ..training import save_weights
from ..training.checkpoint import has_checkpoint

__all__ = ["member_seed", "fit_members"]


def member_seed(seed: int, i: int) -> int:
    """Seed of ensemble member ``i`` of a run with ``seed``: member 0 is the single network
    of that seed; runs with neighbouring seeds share no member (up to 1,000 members)."""
    return seed + 1000 * i


def fit_members(run_dir: Path, count: int, seed: int, resume: bool,
                fit_one: Callable[[Path, int, bool], nn.Module], load_one: Callable[[Path], nn.Module],
                log: Callable[[str], None] = lambda m: None) -> nn.Module:
    """The run's model: with ``count`` 1, the one network ``fit_one(run_dir, seed, resume)``
    trains in ``run_dir`` itself; otherwise ``count`` members, member ``i`` in ``run_dir/members/<i>/`` by
    ``fit_one(member_dir, member_seed(seed, i), resume_it)``; return their
    :class:`~rnnlab.models.Ensemble`, whose weights are also saved as the run's
    ``model.safetensors``. A member marked ``finished`` is loaded by ``load_one(member_dir)``
    rather than trained again, and one that stopped part-way resumes from its checkpoint
    (``resume_it``), so a killed ensemble run resumes where it stopped, member by member."""
    if count == 1:
        return fit_one(run_dir, seed, resume)
    members = []
    for i in range(count):
        member_dir = run_dir / "members" / str(i)
        member_dir.mkdir(parents=True, exist_ok=True)
        if (member_dir / "finished").exists():
            members.append(load_one(member_dir))
            continue
        log(f"ensemble member {i + 1} of {count}")
        # a resumed ensemble may reach a member that had not started when the run stopped
        members.append(fit_one(member_dir, member_seed(seed, i), resume and has_checkpoint(member_dir)))
        (member_dir / "finished").write_text("")
    model = Ensemble(members)
    save_weights(run_dir / "model.safetensors", model)
    return model
