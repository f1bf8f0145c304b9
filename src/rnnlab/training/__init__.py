"""Training engine: the loop (full / truncated BPTT, clipping, early stopping, exact
resume, data parallelism), run directories and safe checkpoint files."""

from .batches import TensorBatches, stream_batches
from .config import apply_overrides, from_dict, to_dict
from .io import load_weights, save_weights
from .rundir import new_run_dir, read_run_config, write_metrics, write_run_config
from .trainer import TrainConfig, Trainer, detach_state, shard_batch, split_time

__all__ = [
    "Trainer", "TrainConfig", "TensorBatches", "stream_batches", "detach_state", "split_time", "shard_batch",
    "apply_overrides", "from_dict", "to_dict", "load_weights", "save_weights", "new_run_dir", "read_run_config",
    "write_metrics", "write_run_config",
]
