"""Each topology learns a small task inside the test suite."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.recurrent import sequence_mask


def fit(model, batch_fn, steps, lr=0.01):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = batch_fn()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return loss.item()


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_seq_to_vec_learns_sign_of_sum(pooling):
    torch.manual_seed(0)
    model = rnnlab.SeqToVec(1, 2, hidden_size=16, pooling=pooling, bidirectional=pooling == "last")

    def batch():
        x = torch.randn(32, 8, 1)
        lengths = torch.randint(2, 9, (32,))
        mask = sequence_mask(lengths, 8).unsqueeze(-1)
        y = ((x * mask).sum((1, 2)) > 0).long()
        return nn.functional.cross_entropy(model(x, lengths), y)

    assert fit(model, batch, 300) < 0.3


def test_conv_front_end_learns_a_local_shape():
    """Class = whether the series contains an up-down spike (+1, -1 on consecutive steps)
    somewhere: a local shape, what the convolutions are for."""
    torch.manual_seed(0)
    model = rnnlab.SeqToVec(1, 2, hidden_size=16, pooling="max", conv_channels=[16], conv_kernels=[3])

    def batch():
        x = torch.randn(64, 12, 1) * 0.1
        y = torch.randint(0, 2, (64,))
        where = torch.randint(0, 10, (64,))
        rows = y.nonzero().squeeze(1)
        x[rows, where[rows], 0] += 1.0
        x[rows, where[rows] + 1, 0] -= 1.0
        return nn.functional.cross_entropy(model(x, torch.full((64,), 12)), y)

    assert fit(model, batch, 200) < 0.2


def test_conv_front_end_is_blind_to_padding():
    """A sequence's features and the model's output are the same alone as in a padded
    batch; gradients never reach the padding."""
    torch.manual_seed(1)
    front = rnnlab.models.ConvFrontEnd(3, [8, 5], [5, 3])
    model = rnnlab.SeqToVec(3, 4, hidden_size=6, bidirectional=True, conv_channels=[8, 5], conv_kernels=[5, 3])
    model.eval()
    lengths = torch.tensor([9, 4, 6])
    x = torch.randn(3, 9, 3, requires_grad=True)
    feats = front(x, lengths)
    out = model(x, lengths)
    assert feats.shape == (3, 9, 5)
    for b, n in enumerate(lengths.tolist()):
        alone = front(x[b:b + 1, :n].detach(), torch.tensor([n]))
        torch.testing.assert_close(feats[b:b + 1, :n], alone, atol=1e-6, rtol=1e-6)
        assert feats[b, n:].abs().sum() == 0
        torch.testing.assert_close(out[b:b + 1], model(x[b:b + 1, :n].detach(), torch.tensor([n])),
                                   atol=1e-5, rtol=1e-5)
    (feats.sum() + out.sum()).backward()
    for b, n in enumerate(lengths.tolist()):
        assert x.grad[b, n:].abs().sum() == 0


@pytest.mark.parametrize("kwargs, field", [({"channels": [8], "kernels": [4]}, "kernels[0]"),
                                           ({"channels": [8, 8], "kernels": [3]}, "kernels"),
                                           ({"channels": [0], "kernels": [3]}, "channels[0]"),
                                           ({"channels": [], "kernels": []}, "channels")])
def test_conv_front_end_rejects_bad_shapes_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        rnnlab.models.ConvFrontEnd(3, **kwargs)


def test_seq_to_seq_learns_running_sum_with_state_carry():
    torch.manual_seed(0)
    model = rnnlab.SeqToSeq(1, 1, hidden_size=16, cell="gru")

    def batch():
        x = torch.randn(32, 10, 1) * 0.3
        return nn.functional.mse_loss(model(x)[0], x.cumsum(1))

    assert fit(model, batch, 300) < 0.01


def test_vec_to_seq_learns_to_count_from_a_code():
    torch.manual_seed(0)
    # vector = one-hot k in 0..3; target tokens: k+3, k+4, k+5, EOS(2); BOS = 1
    model = rnnlab.VecToSeq(4, 10, hidden_size=32, num_embeddings=10, embed_size=16)

    def data(n):
        k = torch.randint(0, 4, (n,))
        v = nn.functional.one_hot(k, 4).float()
        tgt = torch.stack([k + 3, k + 4, k + 5, torch.full_like(k, 2)], 1)
        inp = torch.cat([torch.ones(n, 1, dtype=torch.long), tgt[:, :-1]], 1)
        return v, inp, tgt

    def batch():
        v, inp, tgt = data(32)
        return nn.functional.cross_entropy(model(v, inp).reshape(-1, 10), tgt.reshape(-1))

    assert fit(model, batch, 200) < 0.05
    v, _, tgt = data(16)
    model.eval()
    out = model.generate(v, max_len=6, bos_id=1, eos_id=2)
    assert torch.equal(out.tokens[:, :4], tgt)


@pytest.mark.parametrize("attention", ["additive", "general", None])
def test_encoder_decoder_learns_to_reverse(attention):
    torch.manual_seed(0)
    V, PAD, BOS, EOS = 10, 0, 1, 2
    model = rnnlab.EncoderDecoder(V, V, embed_size=16, hidden_size=32, attention=attention, dropout=0.0)

    def data(n):
        lengths = torch.randint(2, 6, (n,))
        src = torch.randint(3, V, (n, 5)).masked_fill(~sequence_mask(lengths, 5), PAD)
        tgt = torch.full((n, 6), PAD)
        for i, L in enumerate(lengths.tolist()):
            tgt[i, :L] = src[i, :L].flip(0)
            tgt[i, L] = EOS
        tgt_in = torch.cat([torch.full((n, 1), BOS), tgt[:, :-1]], 1)
        return src, lengths, tgt_in, tgt

    def batch():
        src, lengths, tgt_in, tgt = data(64)
        logits, _ = model(src, lengths, tgt_in)
        return nn.functional.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)

    assert fit(model, batch, 400, lr=0.01) < 0.15
    model.eval()
    n = 512  # 64 sequences put one standard error of the exact-match rate at ~4 points
    src, lengths, _, tgt = data(n)
    out = model.generate(src, lengths, max_len=7, beam_size=3)
    exact = sum(torch.equal(out.tokens[i, : lengths[i] + 1], tgt[i, : lengths[i] + 1]) for i in range(n)) / n
    # without attention the whole source passes through one fixed-size vector: harder (Cho et al. 2014)
    assert exact > (0.9 if attention else 0.8)
    if attention:
        assert out.extras.shape[:2] == out.tokens.shape


@pytest.mark.parametrize("attention", ["additive", "dot", None])
def test_decoder_from_any_memory(attention):
    """Without a token encoder the decoder starts from a given memory; masked positions get
    no attention and the start state depends only on the valid ones."""
    torch.manual_seed(0)
    V = 9
    model = rnnlab.EncoderDecoder(None, V, embed_size=8, hidden_size=12, attention=attention, dropout=0.0,
                                  memory_size=5).eval()
    assert model.encoder is None
    memory = torch.randn(2, 4, 5)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    junk = memory.clone()
    junk[1, 2:] = 100.0
    tgt_in = torch.randint(3, V, (2, 3))
    with torch.no_grad():
        a, att_a = model.decode(model.start(memory, mask), tgt_in)
        b, att_b = model.decode(model.start(junk, mask), tgt_in)
    torch.testing.assert_close(a, b)  # padding of the memory changes nothing
    if attention:
        assert att_a.shape == (2, 3, 4) and torch.all(att_a[1, :, 2:] == 0)
        torch.testing.assert_close(att_a.sum(-1), torch.ones(2, 3))
    out = model.generate_from(model.start(memory, mask), max_len=5, beam_size=2)
    assert out.tokens.shape[0] == 2
    with pytest.raises(ValueError, match="memory"):
        model.start(torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="no token encoder"):
        model.encode(torch.randint(0, V, (2, 3)), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="memory_size"):
        rnnlab.EncoderDecoder(None, V)


def test_encode_is_start_from_the_token_encoders_memory():
    torch.manual_seed(0)
    model = rnnlab.EncoderDecoder(11, 9, embed_size=8, hidden_size=6, attention="additive").eval()
    src, lengths = torch.randint(3, 11, (3, 5)), torch.tensor([5, 2, 4])
    tgt_in = torch.randint(3, 9, (3, 4))
    with torch.no_grad():
        direct, _ = model(src, lengths, tgt_in)
        again, _ = model.decode(model.encode(src, lengths), tgt_in)
    torch.testing.assert_close(direct, again)
    assert model.memory_size == 12  # bidirectional: 2 × hidden_size
