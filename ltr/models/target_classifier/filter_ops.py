"""Applying a per-sequence correlation filter and its transpose (the filter gradient).

Shapes follow the DiMP convention: features are ``(images, sequences, C, H, W)`` and every
sequence has its own filter ``(sequences, C, fH, fW)``. Both operations are implemented as
one grouped convolution so that all sequences run in a single kernel call.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F

__all__ = ["apply_filter", "apply_feat_transpose"]


def _as_pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def apply_filter(feat: torch.Tensor, filter: torch.Tensor) -> torch.Tensor:
    """Correlate each sequence's features with that sequence's filter.

    Args:
        feat: (images, sequences, C, H, W), or (images, C, H, W) for a single sequence.
        filter: (sequences, C, fH, fW).

    Returns:
        Scores (images, sequences, H + 1 - fH % 2, W + 1 - fW % 2): the filter is zero-padded
        by ``f // 2`` on each side, so an even-sized filter gives one extra row/column.
    """
    num_images = feat.shape[0]
    num_sequences = feat.shape[1] if feat.dim() == 5 else 1
    if filter.shape[0] != num_sequences:
        raise ValueError(f"filter has {filter.shape[0]} sequences, features have {num_sequences}")
    padding = (filter.shape[-2] // 2, filter.shape[-1] // 2)
    scores = F.conv2d(feat.reshape(num_images, -1, feat.shape[-2], feat.shape[-1]), filter,
                      padding=padding, groups=num_sequences)
    return scores.reshape(num_images, num_sequences, scores.shape[-2], scores.shape[-1])


def apply_feat_transpose(feat: torch.Tensor, input: torch.Tensor,
                         filter_size: Union[int, Sequence[int]]) -> torch.Tensor:
    """Adjoint of :func:`apply_filter` with respect to the filter.

    For residuals ``r`` it returns ``d/dw sum(r * apply_filter(feat, w))``, summed over images.

    Args:
        feat: (images, sequences, C, H, W) or (images, C, H, W).
        input: (images, sequences, yH, yW), e.g. the (weighted) residuals.
        filter_size: (fH, fW) of the filter.

    Returns:
        (sequences, C, fH, fW).
    """
    fh, fw = _as_pair(filter_size)
    num_images = feat.shape[0]
    num_sequences = feat.shape[1] if feat.dim() == 5 else 1
    num_channels = feat.shape[-3]
    # Channels play the role of the batch and every (image, sequence) pair is one group, so
    # the residual map acts as the kernel that is slid over the padded feature map.
    grad = F.conv2d(feat.reshape(num_images * num_sequences, num_channels, feat.shape[-2], feat.shape[-1])
                    .transpose(0, 1),
                    input.reshape(num_images * num_sequences, 1, input.shape[-2], input.shape[-1]),
                    padding=(fh // 2, fw // 2), groups=num_images * num_sequences)
    if grad.shape[-2:] != (fh, fw):
        raise ValueError(f"residual size {tuple(input.shape[-2:])} does not match filter size {(fh, fw)} "
                         f"for features of size {tuple(feat.shape[-2:])}")
    grad = grad.reshape(num_channels, num_images, num_sequences, fh, fw).sum(dim=1)
    return grad.transpose(0, 1)
