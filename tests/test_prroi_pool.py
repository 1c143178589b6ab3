"""Precise RoI pooling: exactness against numerical integration, boundary rules, gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltr.models.ops import PrRoIPool2D, prroi_pool2d


def _dense_reference(feat, rois, ph, pw, scale, samples=200):
    """Mean of the bilinear interpolant (zero outside the map) over a midpoint grid per bin."""
    num_b, num_c, height, width = feat.shape
    out = torch.zeros(rois.shape[0], num_c, ph, pw, dtype=feat.dtype)
    t = (torch.arange(samples, dtype=feat.dtype) + 0.5) / samples
    for k in range(rois.shape[0]):
        b = int(rois[k, 0])
        x1, y1, x2, y2 = (rois[k, 1:] * scale).tolist()
        rw, rh = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
        if rw * rh == 0:
            continue
        for i in range(ph):
            for j in range(pw):
                ys = y1 + rh / ph * i
                xs = x1 + rw / pw * j
                yy = ys + t * rh / ph
                xx = xs + t * rw / pw
                gy, gx = torch.meshgrid(yy, xx, indexing="ij")
                # align_corners=True puts grid point h at normalised -1 + 2h/(H-1); zeros padding
                # makes out-of-map grid points contribute 0, as in the reference operator.
                grid = torch.stack([gx / (width - 1) * 2 - 1, gy / (height - 1) * 2 - 1], dim=-1)[None]
                vals = F.grid_sample(feat[b:b + 1], grid, mode="bilinear", padding_mode="zeros",
                                     align_corners=True)
                out[k, :, i, j] = vals.mean(dim=(2, 3))[0]
    return out


def _cellwise_reference(feat, rois, ph, pw, scale):
    """Loop transcription of the cell-by-cell algorithm of the reference CUDA kernel."""
    num_b, num_c, height, width = feat.shape

    def get(data, h, w):
        return data[h, w] if 0 <= h < height and 0 <= w < width else 0.0

    def cell(data, sh, sw, y0, x0, y1, x1):
        def coef(a, b):
            return (b - 0.5 * b * b) - (a - 0.5 * a * a)
        total = 0.0
        total += get(data, sh, sw) * coef(x0 - sw, x1 - sw) * coef(y0 - sh, y1 - sh)
        total += get(data, sh, sw + 1) * coef(sw + 1 - x1, sw + 1 - x0) * coef(y0 - sh, y1 - sh)
        total += get(data, sh + 1, sw) * coef(x0 - sw, x1 - sw) * coef(sh + 1 - y1, sh + 1 - y0)
        total += get(data, sh + 1, sw + 1) * coef(sw + 1 - x1, sw + 1 - x0) * coef(sh + 1 - y1, sh + 1 - y0)
        return total

    out = torch.zeros(rois.shape[0], num_c, ph, pw, dtype=feat.dtype)
    for k in range(rois.shape[0]):
        b = int(rois[k, 0])
        x1, y1, x2, y2 = (rois[k, 1:] * scale).tolist()
        bw, bh = max(x2 - x1, 0.0) / pw, max(y2 - y1, 0.0) / ph
        for c in range(num_c):
            data = feat[b, c]
            for i in range(ph):
                for j in range(pw):
                    ys, xs = y1 + bh * i, x1 + bw * j
                    ye, xe = ys + bh, xs + bw
                    if bw * bh == 0:
                        continue
                    acc = 0.0
                    for w_it in range(math.floor(xs), math.ceil(xe)):
                        for h_it in range(math.floor(ys), math.ceil(ye)):
                            acc += cell(data, h_it, w_it, max(ys, h_it), max(xs, w_it),
                                        min(ye, h_it + 1.0), min(xe, w_it + 1.0))
                    out[k, c, i, j] = acc / (bw * bh)
    return out


ROIS = [
    [1, 0.3, -0.7, 5.2, 4.9],     # partly above the map
    [0, -2.0, 1.1, 10.5, 8.3],    # wider than the map on both sides
    [1, 2.2, 2.2, 2.2, 5.0],      # zero width -> all zeros
    [0, 3.3, 1.4, 4.1, 2.0],      # sub-cell bins
    [1, 6.0, 3.0, 2.0, 5.0],      # x2 < x1 -> zeros
    [0, 9.5, 7.2, 12.0, 9.0],     # entirely outside, near the border (hat tails)
]


def test_matches_dense_numerical_integration():
    feat = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    rois = torch.tensor(ROIS, dtype=torch.float64)
    out = prroi_pool2d(feat, rois, 3, 2, 1.0)
    ref = _dense_reference(feat, rois, 3, 2, 1.0)
    assert out.shape == (6, 3, 3, 2)
    assert torch.allclose(out, ref, atol=1e-3)


def test_matches_cellwise_kernel_and_spatial_scale():
    feat = torch.randn(2, 2, 6, 5, dtype=torch.float64)
    rois = torch.tensor([[0, 3.0, -5.0, 30.0, 41.0], [1, -9.0, 12.0, 17.0, 19.0], [0, 40.0, 40.0, 60.0, 52.0]],
                        dtype=torch.float64)
    out = PrRoIPool2D(2, 3, 1 / 8)(feat, rois)
    ref = _cellwise_reference(feat, rois, 2, 3, 1 / 8)
    assert torch.allclose(out, ref, atol=1e-10)


def test_zero_area_bins_are_zero_with_finite_grads():
    feat = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 1.0, 1.0, 1.0, 3.0], [0, 2.0, 3.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    out = prroi_pool2d(feat, rois, 2, 2, 1.0)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert torch.isfinite(feat.grad).all() and torch.isfinite(rois.grad).all()


def test_float32_and_unsorted_batch_indices():
    feat = torch.randn(3, 4, 11, 13)
    rois = torch.tensor([[2, 1.0, 2.0, 9.0, 7.0], [0, 0.5, 0.5, 4.0, 6.0], [2, 3.0, 1.0, 12.0, 10.0],
                         [1, 2.0, 2.0, 5.0, 5.0]])
    out = prroi_pool2d(feat, rois, 3, 3, 1.0)
    for k in range(rois.shape[0]):  # each RoI alone must give the same bins
        single = prroi_pool2d(feat, rois[k:k + 1], 3, 3, 1.0)
        assert torch.allclose(out[k:k + 1], single, atol=1e-5)
    ref = _dense_reference(feat.double(), rois.double(), 3, 3, 1.0, samples=100)
    assert torch.allclose(out.double(), ref, atol=1e-3)


def test_gradcheck_features_and_rois():
    feat = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    # Corners away from integer positions: the op is C1 but not C2 at grid lines.
    rois = torch.tensor([[0, 0.37, 0.61, 3.83, 3.29], [1, -0.71, 1.13, 5.47, 5.59], [0, 2.21, -0.43, 4.93, 2.17]],
                        dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, r: prroi_pool2d(f, r, 2, 2, 1.0), (feat, rois),
                                    eps=1e-6, atol=1e-5)
    # Batch indices must not receive gradient.
    rois.grad = None
    prroi_pool2d(feat, rois, 2, 2, 1.0).sum().backward()
    assert torch.all(rois.grad[:, 0] == 0)


def test_gradcheck_with_spatial_scale():
    feat = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 3.3, 5.1, 21.7, 19.9]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, r: prroi_pool2d(f, r, 3, 2, 1 / 8), (feat, rois), eps=1e-6, atol=1e-5)


def test_empty_rois_and_bad_input():
    feat = torch.randn(1, 3, 4, 4)
    assert prroi_pool2d(feat, torch.zeros(0, 5), 2, 2, 1.0).shape == (0, 3, 2, 2)
    with pytest.raises(ValueError):
        prroi_pool2d(feat, torch.zeros(3, 4), 2, 2, 1.0)
    with pytest.raises(ValueError):
        prroi_pool2d(feat, torch.tensor([[1.0, 0, 0, 2, 2]]), 2, 2, 1.0)


def test_reduced_precision_features_keep_precise_boxes():
    feat = torch.randn(1, 4, 40, 40)
    rois = torch.tensor([[0, 301.37, 200.11, 350.7, 260.3]])  # sub-pixel corners far from the origin
    full = prroi_pool2d(feat, rois, 3, 3, 1 / 8)
    half = prroi_pool2d(feat.bfloat16(), rois, 3, 3, 1 / 8)
    assert half.dtype == torch.bfloat16
    assert torch.allclose(half.float(), full, atol=2e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA forward/backward check needs a CUDA device")
def test_cuda_matches_cpu():
    feat = torch.randn(2, 3, 9, 9)
    rois = torch.tensor(ROIS, dtype=torch.float32)
    cpu = prroi_pool2d(feat, rois, 3, 3, 1.0)
    gpu = prroi_pool2d(feat.cuda(), rois.cuda(), 3, 3, 1.0).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)
