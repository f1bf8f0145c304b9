"""The residual block stack of the parallel-recurrence papers (models/recurrent_blocks.py):
its state carries generation token by token exactly, lengths give each sequence its own
state, it learns, and `rnnlab textgen --set model=blocks` runs end to end. The linear
cells in the other apps' networks (`--set cell=...`) through the state widths they use."""

import pytest
import torch
from torch import nn

from rnnlab.files import read_json
from rnnlab.models import EncoderDecoder, RecurrentBlockLM, RecurrentBlockStack, VecToSeq

CELLS = ["mingru", "minlstm", "lru", "lstm"]


def flat(state):
    return [t for block in state for t in block]


@pytest.mark.parametrize("cell", CELLS)
def test_generation_token_by_token_equals_the_whole_sequence(cell):
    torch.manual_seed(0)
    model = RecurrentBlockLM(30, d_model=16, num_blocks=2, cell=cell).eval()
    ids = torch.randint(0, 30, (3, 17))
    with torch.no_grad():
        whole, final = model(ids)
        state, steps = None, []
        for t in range(17):
            logits, state = model(ids[:, t:t + 1], state)
            steps.append(logits)
        # and in two pieces, as stateful training and a primed sampler read it
        first, mid = model(ids[:, :9])
        second, end = model(ids[:, 9:], mid)
    torch.testing.assert_close(torch.cat(steps, 1), whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=1e-5)
    for a, b, c in zip(flat(state), flat(final), flat(end)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(c, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["mingru", "lru"])
def test_lengths_give_each_sequence_its_own_final_state(cell):
    torch.manual_seed(0)
    stack = RecurrentBlockStack(5, d_model=8, num_blocks=2, cell=cell, conv_kernel=3).eval()
    x = torch.randn(3, 12, 5)
    lengths = torch.tensor([12, 4, 7])
    _, state = stack(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        _, alone = stack(x[b:b + 1, :n])
        for got, want in zip(flat(state), flat(alone)):
            # a block's state: the convolution's buffer (B, k-1, d), then the cell's (1, B, S)
            got = got[b:b + 1] if got.shape[0] == 3 else got[:, b:b + 1]
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_block_stack_checks_its_state_and_trains_on_the_scan():
    torch.manual_seed(0)
    stack = RecurrentBlockStack(4, d_model=8, num_blocks=2)
    with pytest.raises(ValueError, match="one state per block"):
        stack(torch.randn(2, 5, 4), state=((),))
    model = RecurrentBlockLM(12, d_model=32, num_blocks=2, cell="mingru")
    # a periodic sequence: after a few steps each next token is determined
    ids = torch.arange(64).remainder(6).repeat(8, 1) + torch.randint(0, 6, (8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        logits, _ = model(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 12), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert model.stack.blocks[0].rnn.last_backend == "scan"
    assert losses[-1] < 0.2 * losses[0], losses[::10]


@pytest.mark.parametrize("cell", ["lru", "minlstm"])
def test_state_bridges_use_the_cells_own_state_widths(cell):
    """An LRU's state holds two numbers a mode (2H wide): the encoder-decoder's bridge and
    the vector-to-sequence start state read the widths from the layer, not hidden_size."""
    torch.manual_seed(0)
    ed = EncoderDecoder(9, 11, 6, hidden_size=8, cell=cell, bidirectional=True)
    src, tgt = torch.randint(3, 9, (2, 5)), torch.randint(3, 11, (2, 4))
    logits, _ = ed(src, torch.tensor([5, 3]), tgt)
    assert logits.shape == (2, 4, 11)
    v2s = VecToSeq(7, 5, hidden_size=8, cell=cell, num_layers=2)
    out = v2s(torch.randn(3, 7), torch.randn(3, 4, 5))
    assert out.shape == (3, 4, 5)


def test_textgen_blocks_end_to_end(tmp_path, cli):
    corpus = tmp_path / "cats.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log. " * 60)
    run = tmp_path / "run"
    code, out, err = cli("textgen", "train", "--quick", "--data", str(corpus), "--out", str(run), "--epochs", "4",
                         "--set", "model=blocks", "--set", "seq_len=32", "--set", "batch_size=8",
                         "--set", "hidden_size=32", "--set", "train.warmup_steps=0")
    assert code == 0, err
    config = read_json(run / "config.json")["config"]
    assert config["model"] == "blocks" and config["cell"] == "mingru"  # the family's own defaults
    m = read_json(run / "metrics.json")
    assert m["val_bits_per_char"] < m["baseline_unigram_bits_per_char"]
    code, out, err = cli("textgen", "sample", str(run), "--prime", "the ", "--length", "30", "--seed", "1")
    assert code == 0 and out.startswith("the "), err
    code, out, err = cli("textgen", "export", str(run))
    assert code == 2 and "model=blocks" in err
