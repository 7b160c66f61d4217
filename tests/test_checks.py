"""The checks behind the lessons' tests say the right thing and catch what they should."""

import pytest
import torch
import torch.nn.functional as F
from torch.nn.functional import scaled_dot_product_attention as aliased_sdpa

from transformer_course import attention
from transformer_course.checks import expect_close, expect_raises, expect_shape, from_scratch


def test_expect_close_passes_within_tolerance_and_keeps_dtype():
    x = torch.randn(3, 4, dtype=torch.float64)
    expect_close(x + 1e-12, x, "x")
    with pytest.raises(AssertionError, match="dtype"):
        expect_close(x.float(), x, "x")


def test_expect_close_names_a_known_mistake():
    q = torch.randn(2, 3, 8)
    right = q @ q.mT / 8**0.5
    with pytest.raises(AssertionError, match="divide by √d_k"):
        expect_close(q @ q.mT / 8, right, "scores", mistakes={"divide by √d_k": q @ q.mT / 8})


def test_expect_close_reports_shape_and_largest_difference():
    with pytest.raises(AssertionError, match=r"expected shape \(2, 3\)"):
        expect_close(torch.zeros(3, 2), torch.zeros(2, 3), "w")
    with pytest.raises(AssertionError, match=r"largest difference 1 at index \(1, 2\)"):
        expected = torch.zeros(2, 3)
        actual = expected.clone()
        actual[1, 2] = 1.0
        expect_close(actual, expected, "w")


def test_expect_shape_and_raises():
    with pytest.raises(AssertionError, match="expected a torch.Tensor"):
        expect_shape([1, 2], (2,), "list")
    expect_raises(ValueError, lambda: int("x"), "int")
    with pytest.raises(AssertionError, match="nothing was raised"):
        expect_raises(ValueError, lambda: 1, "noop")


@pytest.mark.parametrize(
    "call",
    [
        lambda x: torch.softmax(x, -1),
        lambda x: x.softmax(-1),
        lambda x: F.softmax(x, dim=-1),
        lambda x: torch.nn.Softmax(dim=-1)(x),
        lambda x: torch.special.softmax(x, -1),
    ],
)
def test_from_scratch_catches_torch_softmax_however_reached(call):
    with pytest.raises(AssertionError, match="written from scratch.*softmax"):
        with from_scratch("softmax", torch_functions=["softmax", "special_softmax"]):
            call(torch.randn(2, 3))


def test_from_scratch_catches_an_aliased_fused_attention():
    q = torch.randn(1, 2, 4)
    with pytest.raises(AssertionError, match="scaled_dot_product_attention"):
        with from_scratch("attention", torch_functions=["scaled_dot_product_attention"]):
            aliased_sdpa(q, q, q)


def test_from_scratch_catches_the_course_reference_and_allows_own_code():
    x = torch.randn(2, 3)
    with pytest.raises(AssertionError, match="reference"):
        with from_scratch("softmax", reference=[attention.softmax]):
            attention.scaled_dot_product_attention(x, x, x)  # calls the reference softmax
    with from_scratch("softmax", torch_functions=["softmax"], reference=[attention.softmax]):
        e = torch.exp(x - x.amax(-1, keepdim=True))
        e / e.sum(-1, keepdim=True)
