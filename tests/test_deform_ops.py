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


# ----------------------------------------------------------------------------------------------
# Deformable RoI pooling
# ----------------------------------------------------------------------------------------------

def _c_round(value):
    """C ``round``: half away from zero."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _c_float(value):
    """A kernel argument passed as C ``float``."""
    return float(torch.tensor(value, dtype=torch.float32))


def _roi_geometry(roi, scale, out_size, sample_per_part):
    """Per-RoI constants of the kernel: batch, start (w, h), RoI size (w, h), bin and sub-bin sizes."""
    b = int(roi[0])
    sw = _c_round(roi[1]) * scale - 0.5
    sh = _c_round(roi[2]) * scale - 0.5
    ew = (_c_round(roi[3]) + 1.0) * scale - 0.5
    eh = (_c_round(roi[4]) + 1.0) * scale - 0.5
    rw, rh = max(ew - sw, 0.1), max(eh - sh, 0.1)
    bw, bh = rw / out_size, rh / out_size
    return b, sw, sh, rw, rh, bw, bh, bw / sample_per_part, bh / sample_per_part


def _bin_samples(geometry, offsets, n, ph, pw, out_size, sample_per_part, trans_std, height, width):
    """Yield the clamped (h, w) of each valid sample of bin (ph, pw), as the kernel's inner loops."""
    _, sw, sh, rw, rh, bw, bh, subw, subh = geometry
    if offsets is None:
        tx = ty = 0.0
    else:
        part = offsets.shape[-1]
        part_h = math.floor(ph / out_size * part)
        part_w = math.floor(pw / out_size * part)
        tx = float(offsets[n, 0, part_h, part_w]) * trans_std
        ty = float(offsets[n, 1, part_h, part_w]) * trans_std
    wstart = pw * bw + sw + tx * rw
    hstart = ph * bh + sh + ty * rh
    for ih in range(sample_per_part):
        for iw in range(sample_per_part):
            w = wstart + iw * subw
            h = hstart + ih * subh
            if w < -0.5 or w > width - 0.5 or h < -0.5 or h > height - 0.5:
                continue
            yield min(max(h, 0.0), height - 1.0), min(max(w, 0.0), width - 1.0)


def _deform_pool_reference(features, rois, offsets, scale, out_size, sample_per_part, trans_std):
    """Loop re-statement of DeformablePSROIPoolForwardKernel (group_size 1); returns (output, count)."""
    _, channels, height, width = features.shape
    scale, trans_std = _c_float(scale), _c_float(trans_std)
    out = torch.zeros(rois.shape[0], channels, out_size, out_size, dtype=features.dtype)
    count = torch.zeros(rois.shape[0], out_size, out_size, dtype=torch.long)
    for n in range(rois.shape[0]):
        geometry = _roi_geometry(rois[n].tolist(), scale, out_size, sample_per_part)
        data = features[geometry[0]]
        for ph in range(out_size):
            for pw in range(out_size):
                total = torch.zeros(channels, dtype=features.dtype)
                for h, w in _bin_samples(geometry, offsets, n, ph, pw, out_size, sample_per_part, trans_std,
                                         height, width):
                    x1, x2, y1, y2 = math.floor(w), math.ceil(w), math.floor(h), math.ceil(h)
                    dx, dy = w - x1, h - y1
                    total += ((1 - dx) * (1 - dy) * data[:, y1, x1] + (1 - dx) * dy * data[:, y2, x1]
                              + dx * (1 - dy) * data[:, y1, x2] + dx * dy * data[:, y2, x2])
                    count[n, ph, pw] += 1
                if count[n, ph, pw]:
                    out[n, :, ph, pw] = total / int(count[n, ph, pw])
    return out, count


def _deform_pool_backward_reference(features, rois, offsets, grad_out, scale, out_size, sample_per_part,
                                    trans_std):
    """Loop re-statement of DeformablePSROIPoolBackwardAccKernel: (grad_features, grad_offsets)."""
    _, channels, height, width = features.shape
    scale, trans_std = _c_float(scale), _c_float(trans_std)
    grad_features = torch.zeros_like(features)
    grad_offsets = None if offsets is None else torch.zeros_like(offsets)
    _, count = _deform_pool_reference(features, rois, offsets, scale, out_size, sample_per_part, trans_std)
    for n in range(rois.shape[0]):
        geometry = _roi_geometry(rois[n].tolist(), scale, out_size, sample_per_part)
        b, rw, rh = geometry[0], geometry[3], geometry[4]
        data = features[b]
        for ph in range(out_size):
            for pw in range(out_size):
                if count[n, ph, pw] == 0:
                    continue
                diff = grad_out[n, :, ph, pw] / int(count[n, ph, pw])
                for h, w in _bin_samples(geometry, offsets, n, ph, pw, out_size, sample_per_part, trans_std,
                                         height, width):
                    x0, x1, y0, y1 = math.floor(w), math.ceil(w), math.floor(h), math.ceil(h)
                    dx, dy = w - x0, h - y0
                    grad_features[b, :, y0, x0] += (1 - dx) * (1 - dy) * diff
                    grad_features[b, :, y1, x0] += (1 - dx) * dy * diff
                    grad_features[b, :, y0, x1] += dx * (1 - dy) * diff
                    grad_features[b, :, y1, x1] += dx * dy * diff
                    if offsets is None:
                        continue
                    u00, u01, u10, u11 = data[:, y0, x0], data[:, y1, x0], data[:, y0, x1], data[:, y1, x1]
                    diff_x = (u11 * dy + u10 * (1 - dy) - u01 * dy - u00 * (1 - dy)) * trans_std * diff * rw
                    diff_y = (u11 * dx + u01 * (1 - dx) - u10 * dx - u00 * (1 - dx)) * trans_std * diff * rh
                    part = offsets.shape[-1]
                    part_h = math.floor(ph / out_size * part)
                    part_w = math.floor(pw / out_size * part)
                    grad_offsets[n, 0, part_h, part_w] += diff_x.sum()
                    grad_offsets[n, 1, part_h, part_w] += diff_y.sum()
    return grad_features, grad_offsets


# RoIs in image pixels on a 7 x 9 map at scale 0.5 (image about 14 x 18): inside, leaving the map
# on each side, entirely outside, degenerate (x2 < x1: the 0.1 minimum size), half-integer
# corners (C round goes away from zero where torch.round goes to even), in both images.
_ROIS = torch.tensor([
    [0, 2.0, 3.0, 11.0, 9.0],
    [1, -6.0, -4.0, 5.0, 6.0],
    [0, 10.0, 6.0, 25.0, 19.0],
    [1, 40.0, 30.0, 52.0, 44.0],
    [0, 8.0, 5.0, 6.0, 4.0],
    [1, 2.5, 0.5, 12.5, 11.5],
    [0, -2.5, 3.5, 17.5, 13.5],
], dtype=torch.float64)


def _random_case(seed, num_channels=3, height=7, width=9, out_size=3, part=None, offset_std=2.0):
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(2, num_channels, height, width, dtype=torch.float64, generator=gen)
    part = out_size if part is None else part
    offsets = offset_std * torch.randn(_ROIS.shape[0], 2, part, part, dtype=torch.float64, generator=gen)
    return features, _ROIS.clone(), offsets


@pytest.mark.parametrize("out_size,sample_per_part,part,with_offsets,offset_std", [
    (3, 4, None, True, 2.0), (4, 2, None, True, 2.0), (4, 2, 2, True, 2.0), (3, 4, None, False, 0.0),
    (3, 4, None, True, 20.0),   # bins scattered over the whole map (each RoI's window is the map)
])
def test_deform_roi_pool_matches_kernel_restatement(out_size, sample_per_part, part, with_offsets, offset_std):
    from ltr.models.ops import deform_roi_pool
    features, rois, offsets = _random_case(3, out_size=out_size, part=part, offset_std=offset_std)
    offsets = offsets if with_offsets else None
    scale, trans_std = 0.5, 0.1 if with_offsets else 0.0
    expected, count = _deform_pool_reference(features, rois, offsets, scale, out_size, sample_per_part, trans_std)
    # The case exercises skipped samples, empty bins and full bins.
    assert (count == 0).any() and (count == sample_per_part ** 2).any()
    assert ((count > 0) & (count < sample_per_part ** 2)).any()
    got = deform_roi_pool(features, rois, offsets, scale, out_size, sample_per_part, trans_std)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    if offset_std <= 2.0:
        assert torch.all(got[3] == 0)  # the RoI entirely outside the map (large offsets bring it back)


def test_deform_roi_pool_rounds_half_away_from_zero():
    """x1 = 2.5 starts at round(2.5) = 3 (C), not 2 (torch.round): a one-hot column tells them apart."""
    from ltr.models.ops import deform_roi_pool
    features = torch.zeros(1, 1, 4, 8, dtype=torch.float64)
    features[0, 0, :, 3] = 1.0
    rois = torch.tensor([[0, 2.5, 0.0, 2.5, 3.0]], dtype=torch.float64)
    # scale 1: sw = 2.5, rw = 1; one bin, one sample at w = 2.5 -> halfway between columns 2 and 3.
    out = deform_roi_pool(features, rois, None, 1.0, 1, 1, 0.0)
    assert float(out) == pytest.approx(0.5)
    rois[0, 1] = rois[0, 3] = 3.5   # round(3.5) = 4: sample at 3.5 -> also halfway, columns 3 and 4
    assert float(deform_roi_pool(features, rois, None, 1.0, 1, 1, 0.0)) == pytest.approx(0.5)
    rois[0, 1] = rois[0, 3] = 1.5   # round(1.5) = 2: sample at 1.5, between 1 and 2 -> 0
    assert float(deform_roi_pool(features, rois, None, 1.0, 1, 1, 0.0)) == 0.0


@pytest.mark.parametrize("offset_std", [2.0, 20.0])
def test_deform_roi_pool_backward_matches_kernel_restatement(offset_std):
    from ltr.models.ops import deform_roi_pool
    features, rois, offsets = _random_case(4, out_size=3, offset_std=offset_std)
    features.requires_grad_(True)
    offsets.requires_grad_(True)
    out = deform_roi_pool(features, rois, offsets, 0.5, 3, 4, 0.1)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    ref_features, ref_offsets = _deform_pool_backward_reference(features.detach(), rois, offsets.detach(), grad_out,
                                                                0.5, 3, 4, 0.1)
    torch.testing.assert_close(features.grad, ref_features, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(offsets.grad, ref_offsets, rtol=1e-11, atol=1e-11)
    assert offsets.grad.abs().sum() > 0


def test_deform_roi_pool_gradcheck():
    from ltr.models.ops import deform_roi_pool
    gen = torch.Generator().manual_seed(5)
    features = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    rois = torch.tensor([[0, 1.0, 2.0, 9.0, 7.0], [1, -3.0, 1.0, 6.0, 12.0]], dtype=torch.float64)
    offsets = (0.7 * torch.randn(2, 2, 2, 2, dtype=torch.float64, generator=gen)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, o: deform_roi_pool(f, rois, o, 0.5, 2, 2, 0.1),
                                    (features, offsets), eps=1e-6, atol=1e-6)


def test_deform_roi_pool_empty_and_bad_input():
    from ltr.models.ops import deform_roi_pool
    features = torch.randn(1, 3, 5, 5)
    assert deform_roi_pool(features, torch.zeros(0, 5), None, 1.0, 4).shape == (0, 3, 4, 4)
    with pytest.raises(ValueError, match="batch index"):
        deform_roi_pool(features, torch.tensor([[1.0, 0, 0, 2, 2]]), None, 1.0, 2)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        deform_roi_pool(features, torch.zeros(2, 4), None, 1.0, 2)
    with pytest.raises(ValueError, match="offsets"):
        deform_roi_pool(features, torch.zeros(2, 5), torch.zeros(2, 3, 2, 2), 1.0, 2)


def test_deform_roi_pool_is_not_roi_align():
    """Same RoI, same sample count: torchvision's roi_align samples elsewhere, so values differ."""
    from torchvision.ops import roi_align
    from ltr.models.ops import deform_roi_pool
    features, rois, _ = _random_case(6)
    inside = rois[:1]
    ours = deform_roi_pool(features, inside, None, 0.5, 3, 2, 0.0)
    theirs = roi_align(features, inside, 3, spatial_scale=0.5, sampling_ratio=2, aligned=True)
    assert (ours - theirs).abs().max() > 1e-3


# ----------------------------------------------------------------------------------------------
# DeformRoIPoolingPack
# ----------------------------------------------------------------------------------------------

def test_pack_state_dict_matches_manifest():
    from ltr.admin.loading import load_manifest
    from ltr.models.ops import DeformRoIPoolingPack
    manifest = {key: shape for key, shape, _ in load_manifest("siamattn")}
    with torch.device("meta"):   # shapes only: the mask pool's first layer alone is 67 M parameters
        modules = {
            "refine_head.roi_pool_b.": DeformRoIPoolingPack(25 / 255, 4, 256, trans_std=0.1),
            "mask_head.roi_pool_m.": DeformRoIPoolingPack(63 / 255, 16, 256, trans_std=0.1),
            "feature_enhance.deform_convs.0.": DeformConvPack(256, 256, 3, padding=1),
        }
    for prefix, module in modules.items():
        ours = [(prefix + key, tuple(value.shape)) for key, value in module.state_dict().items()]
        theirs = [(key, shape) for key, shape in manifest.items() if key.startswith(prefix)]
        assert ours == theirs
    assert manifest["refine_head.roi_pool_b.offset_fc.0.weight"] == (1024, 4096)
    assert manifest["refine_head.roi_pool_b.offset_fc.4.weight"] == (32, 1024)


def test_pack_two_passes():
    from ltr.models.ops import DeformRoIPoolingPack, deform_roi_pool
    torch.manual_seed(7)
    pack = DeformRoIPoolingPack(0.5, 3, 3, sample_per_part=2, deform_fc_channels=8).double()
    features, rois, _ = _random_case(8)
    untranslated = deform_roi_pool(features, rois, None, 0.5, 3, 2, 0.1)
    # Fresh: the zero last layer gives zero offsets, so both passes pool the same points.
    torch.testing.assert_close(pack(features, rois), untranslated)
    with torch.no_grad():
        pack.offset_fc[4].weight.normal_(0.0, 0.5)
        pack.offset_fc[4].bias.normal_(0.0, 1.0)
    offsets = pack.offset_fc(untranslated.reshape(len(rois), -1)).view(len(rois), 2, 3, 3)
    torch.testing.assert_close(pack(features, rois), deform_roi_pool(features, rois, offsets, 0.5, 3, 2, 0.1))
    assert not torch.allclose(pack(features, rois), untranslated)
    # Gradients reach the features through both passes and the offset MLP.
    features = features.clone().requires_grad_(True)
    pack(features, rois).sum().backward()
    assert features.grad.abs().sum() > 0 and pack.offset_fc[0].weight.grad.abs().sum() > 0
    features = features.detach()
    # The first P*P outputs translate along x: a bias on output 0 moves bin (0, 0) along x only.
    with torch.no_grad():
        pack.offset_fc[4].weight.zero_()
        pack.offset_fc[4].bias.zero_()
        pack.offset_fc[4].bias[0] = 1.0
    moved = torch.zeros(len(rois), 2, 3, 3, dtype=torch.float64)
    moved[:, 0, 0, 0] = 1.0
    torch.testing.assert_close(pack(features, rois), deform_roi_pool(features, rois, moved, 0.5, 3, 2, 0.1))


def test_pack_no_trans_and_options():
    from ltr.models.ops import DeformRoIPoolingPack, deform_roi_pool
    pack = DeformRoIPoolingPack(0.5, 3, 3, no_trans=True)
    assert len(pack.state_dict()) == 0
    features, rois, _ = _random_case(9)
    features = features.float()
    torch.testing.assert_close(pack(features, rois), deform_roi_pool(features, rois, None, 0.5, 3))
    one_fc = DeformRoIPoolingPack(0.5, 2, 3, num_offset_fcs=1)
    assert [tuple(p.shape) for p in one_fc.parameters()] == [(8, 12), (8,)]
    with pytest.raises(ValueError, match="group_size"):
        DeformRoIPoolingPack(0.5, 3, 3, group_size=3)
    with pytest.raises(ValueError, match="part_size"):
        DeformRoIPoolingPack(0.5, 3, 3, part_size=2)
    with pytest.raises(ValueError, match="expects features"):
        pack(features[:, :2], rois)


# ----------------------------------------------------------------------------------------------
# CPU == CUDA
# ----------------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CPU == CUDA check needs a GPU")
def test_deform_ops_cpu_equals_cuda():
    from ltr.models.ops import DeformRoIPoolingPack
    torch.manual_seed(10)
    conv = DeformConvPack(4, 4, 3).double()
    with torch.no_grad():
        conv.conv_offset.weight.normal_(0.0, 0.5)
        conv.conv_offset.bias.normal_(0.0, 1.5)
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(conv.cuda()(x.cuda()).cpu(), conv.cpu()(x), rtol=1e-10, atol=1e-10)

    pack = DeformRoIPoolingPack(0.5, 3, 3, deform_fc_channels=8).double()
    with torch.no_grad():
        pack.offset_fc[4].weight.normal_(0.0, 0.5)
    features, rois, _ = _random_case(11)
    features.requires_grad_(True)
    out_cpu = pack(features, rois)
    out_cpu.sum().backward()
    grad_cpu, features.grad = features.grad, None
    pack_gpu = pack.cuda()
    features_gpu = features.detach().cuda().requires_grad_(True)
    out_gpu = pack_gpu(features_gpu, rois.cuda())
    out_gpu.sum().backward()
    torch.testing.assert_close(out_gpu.cpu(), out_cpu.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(features_gpu.grad.cpu(), grad_cpu, rtol=1e-10, atol=1e-10)
