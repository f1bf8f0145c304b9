import torch
from torch import nn

from rnnlab.training import TensorBatches, TrainConfig, Trainer
from rnnlab.training.checkpoint import latest_checkpoint


def test_time_limit_stops_and_scores_the_partial_epoch(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    x, y = torch.randn(4000, 2), torch.randn(4000, 1)
    cfg = TrainConfig(epochs=1000, time_limit_minutes=0.02, lr=0.01)
    hist = Trainer(model, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), cfg, run_dir=tmp_path,
                   evaluate_fn=lambda m: {"val_loss": 1.0}, verbose=False).fit(TensorBatches(x, y, batch_size=2))
    assert 1 <= len(hist) < 1000 and hist[-1]["elapsed_s"] < 10
    assert (latest_checkpoint(tmp_path) / "trainer.json").exists()
