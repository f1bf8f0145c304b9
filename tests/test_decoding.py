import math

import torch

from rnnlab import decoding

BOS, EOS, A, B_, C = 0, 1, 2, 3, 4
V = 5


def table_step(tokens, state):
    """A hand-built model whose next-token distribution depends on the last token only.
    Greedy takes A (0.6) and then must choose among near-uniform continuations, while
    B (0.4) followed by EOS (0.9) is the most probable sequence."""
    probs = {
        BOS: [0.0, 0.0, 0.6, 0.4, 0.0],
        A: [0.0, 0.34, 0.33, 0.0, 0.33],
        B_: [0.0, 0.9, 0.05, 0.0, 0.05],
        C: [0.0, 0.34, 0.33, 0.0, 0.33],
    }
    rows = torch.tensor([probs.get(int(t), [0.0, 1.0, 0.0, 0.0, 0.0]) for t in tokens])
    logp = torch.log(rows.clamp_min(1e-12))
    return logp, state, None


def state_for(batch):
    return {"dummy": torch.zeros(batch, 1)}


def test_beam_finds_what_greedy_misses():
    g = decoding.greedy(table_step, state_for(1), 1, BOS, EOS, max_len=6)
    b = decoding.beam_search(table_step, state_for(1), 1, BOS, EOS, max_len=6, beam_size=2)
    assert g.tokens[0, :2].tolist() == [A, EOS]
    assert b.tokens[0, :2].tolist() == [B_, EOS]
    assert math.isclose(b.scores.item(), math.log(0.4 * 0.9), rel_tol=1e-5)
    assert b.scores.item() > g.scores.item()


def test_beam_one_equals_greedy_on_a_random_model():
    torch.manual_seed(0)
    W = torch.randn(7, 7) * 3

    def step(tokens, state):
        h = torch.tanh(state["h"] + W[tokens])
        return torch.log_softmax(h @ W, -1), {"h": h}, h[:, :2]

    st = {"h": torch.randn(4, 7)}
    g = decoding.greedy(step, st, 4, 0, 1, max_len=12)
    b = decoding.beam_search(step, st, 4, 0, 1, max_len=12, beam_size=1)
    assert torch.equal(g.tokens, b.tokens) and torch.equal(g.lengths, b.lengths)
    torch.testing.assert_close(g.scores, b.scores)
    torch.testing.assert_close(g.extras, b.extras)


def test_sampling_temperature_and_top_k():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).expand(2000, 3)
    gen = torch.Generator().manual_seed(0)
    top1 = decoding.sample_logits(logits, 1.0, top_k=1, generator=gen)
    assert torch.all(top1 == 0)
    draws = decoding.sample_logits(logits, 1.0, generator=gen)
    freq = torch.bincount(draws, minlength=3).float() / 2000
    assert abs(freq[0] - 0.5) < 0.05 and abs(freq[2] - 0.2) < 0.05
    cold = decoding.sample_logits(logits, 0.1, generator=gen)
    assert (cold == 0).float().mean() > 0.95
    assert torch.all(decoding.sample_logits(logits, 0.0) == 0)


def test_length_penalty_prefers_longer_when_alpha_is_large():
    lp = decoding.length_penalty(torch.tensor([1, 10]), 1.0)
    assert lp[1] > lp[0]
