"""Two gloo processes on one machine take the same steps as one process on the whole batch."""

import os
import socket

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
