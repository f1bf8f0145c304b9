import pytest
import torch

from rnnlab.attention import AdditiveAttention, DotAttention, GeneralAttention


@pytest.mark.parametrize("make", [lambda: AdditiveAttention(6, 6, 5), lambda: DotAttention(6),
                                  lambda: GeneralAttention(6, 6)])
def test_weights_sum_to_one_and_zero_on_masked(make):
    torch.manual_seed(0)
    att = make()
    keys = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    ctx, w = att(torch.randn(3, 6), keys, mask=mask)
    assert ctx.shape == (3, 6) and w.shape == (3, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(3))
    assert torch.all(w[~mask] == 0)
    torch.testing.assert_close(ctx[2], keys[2, 0])
    # a 3-D query gives one distribution per query step
    ctx, w = att(torch.randn(3, 4, 6), keys, mask=mask)
    assert w.shape == (3, 4, 5) and torch.all(w.transpose(0, 1)[:, ~mask] == 0)


def test_masked_keys_do_not_change_context():
    torch.manual_seed(1)
    att = AdditiveAttention(4, 4)
    q, keys = torch.randn(1, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    c1, _ = att(q, keys, mask=mask)
    keys2 = keys.clone()
    keys2[0, 2] = 100.0
    c2, _ = att(q, keys2, mask=mask)
    torch.testing.assert_close(c1, c2)
    c3, _ = att(q, keys[:, :2])
    torch.testing.assert_close(c1, c3)


def test_bad_shapes():
    att = AdditiveAttention(4, 6)
    with pytest.raises(ValueError, match="query"):
        att(torch.randn(2, 5), torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="keys"):
        att(torch.randn(2, 4), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="mask"):
        att(torch.randn(2, 4), torch.randn(2, 3, 6), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no valid key"):
        att(torch.randn(2, 4), torch.randn(2, 3, 6), mask=torch.tensor([[1, 0, 0], [0, 0, 0]], dtype=torch.bool))
