"""The Transformer models: positions, masks, the cached decoding paths equal to the full
forward passes, padding that never leaks, and small models that learn."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab.models.transformer import (
    KVCache,
    PositionalEncoding,
    TransformerClassifier,
    TransformerEncoderDecoder,
    TransformerLM,
    check_heads,
)


def test_sinusoids_are_vaswanis_and_positions_are_bounded():
    pe = PositionalEncoding(8, max_positions=50)
    x = torch.zeros(1, 50, 8)
    table = pe(x)[0]
    p, i = 37, 2
    assert float(table[p, 2 * i]) == pytest.approx(math.sin(p / 10000 ** (2 * i / 8)), abs=1e-6)
    assert float(table[p, 2 * i + 1]) == pytest.approx(math.cos(p / 10000 ** (2 * i / 8)), abs=1e-6)
    assert torch.equal(pe(torch.zeros(1, 3, 8), offset=37)[0, 0], table[37])
    with pytest.raises(ValueError, match="max_positions: a sequence of 51 positions"):
        pe(torch.zeros(1, 51, 8))
    learned = PositionalEncoding(8, 10, "learned")
    assert learned.table.requires_grad
    with pytest.raises(ValueError, match="positions: expected one of sinusoidal, learned"):
        PositionalEncoding(8, 10, "rotary")


def test_d_model_must_divide_into_heads():
    with pytest.raises(ValueError, match="d_model=30 does not divide into heads=4"):
        check_heads(30, 4)
    with pytest.raises(ValueError, match="d_model=30 does not divide"):
        TransformerLM(10, d_model=30, heads=4)


def _translator(seed=0, **kw):
    torch.manual_seed(seed)
    return TransformerEncoderDecoder(13, 11, d_model=16, heads=2, num_layers=2, ff_size=32, dropout=0.0,
                                     max_positions=40, **kw).eval()


def test_cached_decoding_steps_equal_the_teacher_forced_pass():
    model = _translator()
    src = torch.randint(4, 13, (3, 7))
    lengths = torch.tensor([7, 4, 2])
    src[1, 4:] = 0
    src[2, 2:] = 0
    tgt = torch.cat([torch.ones(3, 1, dtype=torch.long), torch.randint(4, 11, (3, 5))], 1)
    with torch.no_grad():
        full, _ = model(src, lengths, tgt)
        state = model.encode(src, lengths)
        steps = []
        for t in range(tgt.shape[1]):
            logits, state, cross = model._step(tgt[:, t], state)
            steps.append(logits)
            assert torch.allclose(cross.sum(-1), torch.ones(3), atol=1e-5)
            assert float(cross[1, 4:].abs().max()) == 0.0 and float(cross[2, 2:].abs().max()) == 0.0
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-4)


def test_source_padding_never_changes_a_translation():
    model = _translator(1)
    a = torch.randint(4, 13, (1, 4))
    padded = torch.cat([a, torch.zeros(1, 3, dtype=torch.long)], 1)
    batch = torch.cat([padded, torch.randint(4, 13, (1, 7))], 0)
    alone = model.generate(a, torch.tensor([4]), max_len=6)
    together = model.generate(batch, torch.tensor([4, 7]), max_len=6)
    n = int(alone.lengths[0])
    assert torch.equal(alone.tokens[0, :n], together.tokens[0, :n])
    assert together.extras.shape[:2] == together.tokens.shape and together.extras.shape[2] == 7
    beam1 = model.generate(batch, torch.tensor([4, 7]), max_len=6, beam_size=1)
    assert torch.equal(beam1.tokens, together.tokens)
    beam = model.generate(batch, torch.tensor([4, 7]), max_len=6, beam_size=3)
    assert beam.tokens.shape[0] == 2


def test_the_translator_learns_to_reverse():
    torch.manual_seed(0)
    model = TransformerEncoderDecoder(10, 10, d_model=32, heads=4, num_layers=2, ff_size=64, dropout=0.0,
                                      max_positions=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(250):
        src = torch.randint(3, 10, (32, 5))
        tgt = torch.cat([src.flip(1), torch.full((32, 1), 2)], 1)
        tgt_in = torch.cat([torch.ones(32, 1, dtype=torch.long), tgt[:, :-1]], 1)
        logits, _ = model(src, torch.full((32,), 5), tgt_in)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 10), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src = torch.randint(3, 10, (64, 5))
    out = model.generate(src, torch.full((64,), 5), max_len=8)
    assert float((out.tokens[:, :5] == src.flip(1)).float().mean()) > 0.9


def test_classifier_ignores_padding_and_its_gradients_check():
    torch.manual_seed(0)
    model = TransformerClassifier(3, 4, d_model=8, heads=2, num_layers=1, ff_size=16, dropout=0.0).double().eval()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    x[1, 3:] = float("nan")  # padding may hold anything
    lengths = torch.tensor([6, 3])
    together = model(x, lengths)
    alone = model(x[1:, :3], torch.tensor([3]))
    torch.testing.assert_close(together[1:], alone)
    inputs = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: model(t, torch.tensor([4, 2])), (inputs,))
    # torch's fused CPU attention has no second derivative; its math kernel has
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        assert torch.autograd.gradgradcheck(lambda t: model(t, torch.tensor([4, 2])), (inputs,))


def _lm(seed=0, max_positions=64):
    torch.manual_seed(seed)
    return TransformerLM(17, d_model=16, heads=2, num_layers=2, ff_size=32, dropout=0.0, max_positions=max_positions)


def test_lm_cache_continues_the_sequence_exactly():
    model = _lm()
    ids = torch.randint(0, 17, (2, 20))
    model.train()
    trained_path, state = model(ids)  # torch's layers with a causal mask
    assert state is None
    model.eval()
    with torch.no_grad():
        full, cache = model(ids)
        torch.testing.assert_close(full, trained_path.detach(), atol=1e-5, rtol=1e-4)
        first, st = model(ids[:, :7])
        second, st = model(ids[:, 7:15], st)
        steps = [model(ids[:, t:t + 1], st)[0] for t in range(15, 20)]
    torch.testing.assert_close(torch.cat([first, second, *steps], 1), full, atol=1e-5, rtol=1e-4)
    assert isinstance(cache, KVCache) and cache.length == 20
    assert cache.nbytes == 2 * 2 * 2 * 20 * 16 * 4  # (k, v) x layers x batch x tokens x d_model x float32


def test_lm_slides_its_window_when_positions_run_out():
    model = _lm(max_positions=16).eval()
    ids = torch.randint(0, 17, (1, 10))
    with torch.no_grad():
        logits, state = model(ids)
        for t in range(30):
            logits, state = model(torch.tensor([[t % 17]]), state)
            assert logits.shape == (1, 1, 17) and state.length <= 16
        # after sliding, the state is what reading the recent window from scratch gives
        window = state.tokens
        again, _ = model(window)
    torch.testing.assert_close(logits[:, -1], again[:, -1], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="max_positions: 17 tokens in one call"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_lm_learns_a_repeating_text():
    torch.manual_seed(0)
    model = _lm()
    text = torch.tensor([0, 1, 2, 3, 4, 5, 6] * 12)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        start = int(torch.randint(0, len(text) - 33, ()))
        x, y = text[start:start + 32].unsqueeze(0), text[start + 1:start + 33].unsqueeze(0)
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 17), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2
