"""Two gloo processes on one machine take the same steps as one process on the whole batch."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

import rnnlab
from rnnlab.training import TensorBatches, TrainConfig, Trainer

STEPS_CFG = dict(epochs=2, lr=0.01, clip_norm=0.5, optimizer="adam")


def setup():
    torch.manual_seed(0)
    x = torch.randn(48, 7, 3)
    y = x.sum((1, 2)).unsqueeze(1)
    torch.manual_seed(1)
    model = rnnlab.SeqToVec(3, 1, hidden_size=8, cell="gru", bidirectional=True)
    return model, TensorBatches(x, y, batch_size=12, seed=3)


def loss_fn(m, batch):
    xb, yb = batch
    return nn.functional.mse_loss(m(xb), yb)


def worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model, batches = setup()
    Trainer(model, loss_fn, TrainConfig(**STEPS_CFG), verbose=False).fit(batches)
    if rank == 0:
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, out)  # test-local file, ours
    torch.distributed.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process_on_combined_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.spawn(worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    model, batches = setup()
    Trainer(model, loss_fn, TrainConfig(**STEPS_CFG), verbose=False).fit(batches)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ddp[k], v, atol=1e-6, rtol=1e-5, msg=k)


@pytest.mark.slow
def test_torchrun_cli_trains_with_two_processes_and_only_rank_0_writes(tmp_path):
    """The README's command: `torchrun --nproc-per-node 2 -m rnnlab <app> train`."""
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "rnnlab",
                          "classify", "train", "--quick", "--epochs", "1", "--out", "run"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert run.stdout.count("run directory:") == 1  # rank 1 trains but neither logs nor reports
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["processes"] == 2
    assert (tmp_path / "run" / "model.safetensors").exists()


STREAM_CFG = dict(epochs=1, lr=0.01, clip_norm=1.0, stateful=True, optimizer="adam")


def stream_setup():
    from rnnlab.models import SeqToSeq

    torch.manual_seed(0)
    ids = torch.randint(0, 11, (2000,))
    torch.manual_seed(1)
    return SeqToSeq(6, 11, 8, "lstm", num_embeddings=11), ids


def stream_loss(m, batch, state):
    xb, yb = batch
    logits, state = m(xb, state)
    return nn.functional.cross_entropy(logits.reshape(-1, 11), yb.reshape(-1)), state


def stream_worker(rank, world, port, out):
    """Each process reads only its own streams of the corpus (StreamBatches' rows)."""
    from rnnlab.training.batches import StreamBatches

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model, ids = stream_setup()
    Trainer(model, stream_loss, TrainConfig(**STREAM_CFG), verbose=False).fit(StreamBatches(ids, 6, 10, rank, world))
    if rank == 0:
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, out)  # test-local file, ours
    torch.distributed.destroy_process_group()


def test_ranks_reading_disjoint_streams_equal_one_process(tmp_path):
    from rnnlab.training.batches import StreamBatches

    out = tmp_path / "ddp.pt"
    mp.spawn(stream_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    model, ids = stream_setup()
    Trainer(model, stream_loss, TrainConfig(**STREAM_CFG), verbose=False).fit(StreamBatches(ids, 6, 10))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ddp[k], v, atol=1e-6, rtol=1e-5, msg=k)
