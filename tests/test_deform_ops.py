"""Deformable convolution and deformable RoI pooling against loop re-statements of the CUDA kernels."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltr.models.ops import DeformConvPack


# ----------------------------------------------------------------------------------------------
# Deformable convolution
# ----------------------------------------------------------------------------------------------

def _im2col_bilinear(img, y, x):
    """``deformable_im2col_bilinear`` of the DCN kernel: zero outside, each corner checked on its own."""
    height, width = img.shape
    if not (y > -1 and x > -1 and y < height and x < width):
        return 0.0
    y_low, x_low = math.floor(y), math.floor(x)
    y_high, x_high = y_low + 1, x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    v1 = float(img[y_low, x_low]) if y_low >= 0 and x_low >= 0 else 0.0
    v2 = float(img[y_low, x_high]) if y_low >= 0 and x_high <= width - 1 else 0.0
    v3 = float(img[y_high, x_low]) if y_high <= height - 1 and x_low >= 0 else 0.0
    v4 = float(img[y_high, x_high]) if y_high <= height - 1 and x_high <= width - 1 else 0.0
    return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4


def _deform_conv_reference(x, offset, weight, bias, stride, padding, dilation, deformable_groups):
    """Loop re-statement of ``deformable_im2col`` followed by the grouped GEMM."""
    batch, channels, _, _ = x.shape
    out_channels, channels_per_group, kh, kw = weight.shape
    groups = channels // channels_per_group
    out_h, out_w = offset.shape[2:]
    channels_per_offset_group = channels // deformable_groups
    cols = torch.zeros(batch, channels, kh, kw, out_h, out_w, dtype=x.dtype)
    for b in range(batch):
        for c in range(channels):
            g = c // channels_per_offset_group
            for i in range(kh):
                for j in range(kw):
                    tap = i * kw + j
                    for ho in range(out_h):
                        for wo in range(out_w):
                            dy = float(offset[b, g * 2 * kh * kw + 2 * tap, ho, wo])
                            dx = float(offset[b, g * 2 * kh * kw + 2 * tap + 1, ho, wo])
                            y = ho * stride - padding + i * dilation + dy
                            xx = wo * stride - padding + j * dilation + dx
                            cols[b, c, i, j, ho, wo] = _im2col_bilinear(x[b, c], y, xx)
    out = torch.zeros(batch, out_channels, out_h, out_w, dtype=x.dtype)
    out_per_group = out_channels // groups
    for o in range(out_channels):
        g = o // out_per_group
        block = cols[:, g * channels_per_group:(g + 1) * channels_per_group]
        out[:, o] = torch.einsum("bcijhw,cij->bhw", block, weight[o])
        if bias is not None:
            out[:, o] += bias[o]
    return out


@pytest.mark.parametrize("stride,padding,dilation,groups,deformable_groups,bias", [
    (1, 1, 1, 1, 1, False),
    (2, 2, 2, 2, 2, True),
])
def test_deform_conv_matches_kernel_restatement(stride, padding, dilation, groups, deformable_groups, bias):
    torch.manual_seed(0)
    module = DeformConvPack(4, 4, 3, stride=stride, padding=padding, dilation=dilation, groups=groups,
                            deformable_groups=deformable_groups, bias=bias).double()
    with torch.no_grad():
        # Offsets of a few pixels so that samples leave the map on every side.
        module.conv_offset.weight.normal_(0.0, 0.5)
        module.conv_offset.bias.normal_(0.0, 1.5)
        if bias:
            module.bias.normal_()
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    offset = module.conv_offset(x)
    expected = _deform_conv_reference(x, offset.detach(), module.weight.detach(),
                                      None if module.bias is None else module.bias.detach(),
                                      stride, padding, dilation, deformable_groups)
    assert float(offset.detach().abs().max()) > 2.0
    torch.testing.assert_close(module(x), expected, rtol=1e-10, atol=1e-10)


def test_deform_conv_offset_layout_is_dy_then_dx():
    """Channel 2k moves tap k along rows, channel 2k+1 along columns (one-hot probe)."""
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 3, 1] = 1.0
    module = DeformConvPack(1, 1, 1, padding=0).double()
    with torch.no_grad():
        module.weight.fill_(1.0)
        module.conv_offset.bias.copy_(torch.tensor([1.0, 0.0]))   # dy = +1
    out = module(x)[0, 0]
    assert out[2, 1] == 1.0 and out.sum() == 1.0
    with torch.no_grad():
        module.conv_offset.bias.copy_(torch.tensor([0.0, 1.0]))   # dx = +1
    out = module(x)[0, 0]
    assert out[3, 0] == 1.0 and out.sum() == 1.0


def test_fresh_deform_conv_is_a_plain_conv():
    torch.manual_seed(1)
    module = DeformConvPack(8, 6, 3, padding=1)
    x = torch.randn(2, 8, 9, 7)
    torch.testing.assert_close(module(x), F.conv2d(x, module.weight, padding=1), rtol=1e-5, atol=1e-5)
    names = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert names == {"weight": (6, 8, 3, 3), "conv_offset.weight": (18, 8, 3, 3), "conv_offset.bias": (18,)}


def test_deform_conv_gradients_reach_offsets():
    torch.manual_seed(2)
    module = DeformConvPack(2, 2, 3).double()
    with torch.no_grad():
        module.conv_offset.bias.uniform_(-0.8, 0.8)
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    module(x).square().sum().backward()
    assert module.conv_offset.weight.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


def test_deform_conv_rejects_wrong_channels():
    with pytest.raises(ValueError, match="expects"):
        DeformConvPack(4, 4)(torch.zeros(1, 3, 5, 5))
