"""DiMP target classifier with the TrDiMP transformer: features -> transformer -> filter -> scores."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import torch
import torch.nn as nn

from .features import init_feature_head
from .filter_ops import apply_filter

__all__ = ["LinearFilter"]


class LinearFilter(nn.Module):
    """Target classification by a discriminatively learned correlation filter.

    Args:
        filter_size: filter side (cells).
        filter_initializer: module ``(feat, bb) -> initial filter``.
        filter_optimizer: module ``(filter, feat=, bb=, ...) -> (filter, iterates, losses)``;
            ``None`` uses the initial filter as is.
        feature_extractor: classification head applied to backbone features (None: identity).
        transformer: optional :class:`~ltr.models.target_classifier.transformer.Transformer`;
            when present, :meth:`forward` needs ``train_label``.
    """

    def __init__(self, filter_size: int, filter_initializer: nn.Module, filter_optimizer: Optional[nn.Module] = None,
                 feature_extractor: Optional[nn.Module] = None, transformer: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.filter_size = filter_size
        # Registration order fixes the state-dict order of the released checkpoints.
        self.filter_initializer = filter_initializer
        self.filter_optimizer = filter_optimizer
        self.feature_extractor = feature_extractor
        self.transformer = transformer
        if self.feature_extractor is not None:
            init_feature_head(self.feature_extractor)

    def forward(self, train_feat: torch.Tensor, test_feat: torch.Tensor, train_bb: torch.Tensor,
                train_label: Optional[torch.Tensor] = None, **kwargs: Any) -> List[torch.Tensor]:
        """Learn a filter on the train images and score the test images with every iterate.

        Args:
            train_feat: backbone features (Ntr, B, C, H, W) or (Ntr*B, C, H, W).
            test_feat: backbone features (Nte, B, C, H, W) or (Nte*B, C, H, W).
            train_bb: (Ntr, B, 4) train target boxes (x, y, w, h) in image pixels.
            train_label: (Ntr, B, H, W) Gaussian train labels (needed with a transformer).
            **kwargs: passed to the filter optimiser (e.g. ``num_iter``).

        Returns:
            Score maps (Nte, B, yH, yW), one per filter iterate (initial filter first).
        """
        if train_bb.dim() != 3:
            raise ValueError(f"train_bb must be (images, sequences, 4), got {tuple(train_bb.shape)}")
        num_sequences = train_bb.shape[1]
        train_feat = self.extract_classification_feat(train_feat.reshape(-1, *train_feat.shape[-3:]), num_sequences)
        test_feat = self.extract_classification_feat(test_feat.reshape(-1, *test_feat.shape[-3:]), num_sequences)

        if self.transformer is not None:
            if train_label is None:
                raise ValueError("the transformer needs train_label (Ntr, B, H, W)")
            encoded, decoded = self.transformer(train_feat, test_feat, train_label)
            train_feat = encoded.reshape(-1, num_sequences, *encoded.shape[-3:])
            test_feat = decoded.reshape(-1, num_sequences, *decoded.shape[-3:])

        _, filter_iter, _ = self.get_filter(train_feat, train_bb, **kwargs)
        return [self.classify(f, test_feat) for f in filter_iter]

    def extract_classification_feat(self, feat: torch.Tensor, num_sequences: Optional[int] = None) -> torch.Tensor:
        """Apply the classification head to (N, C, H, W) backbone features.

        Returns (N, C', H, W), or (N / num_sequences, num_sequences, C', H, W) if given.
        """
        out = feat if self.feature_extractor is None else self.feature_extractor(feat)
        if num_sequences is None:
            return out
        return out.reshape(-1, num_sequences, *out.shape[-3:])

    def classify(self, weights: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        """Scores (N, B, yH, yW) of filters (B, C, f, f) on features (N, B, C, H, W)."""
        return apply_filter(feat, weights)

    def get_filter(self, feat: torch.Tensor, bb: torch.Tensor,
                   **kwargs: Any) -> Tuple[torch.Tensor, List[torch.Tensor], Optional[List[torch.Tensor]]]:
        """Initialise and optimise the filter.

        Args:
            feat: (N, [B], C, H, W) classification features of the train images.
            bb: (N, [B], 4) target boxes (x, y, w, h) in image pixels.
            **kwargs: passed to the optimiser (``sample_weight``, ``num_iter``, ``compute_losses``).

        Returns:
            (final filter (B, C, f, f), all iterates including the initial filter, losses or None).
        """
        weights = self.filter_initializer(feat, bb)
        if self.filter_optimizer is None:
            return weights, [weights], None
        return self.filter_optimizer(weights, feat=feat, bb=bb, **kwargs)

    def train_classifier(self, backbone_feat: torch.Tensor,
                         bb: torch.Tensor) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]]]:
        """Filter learned from backbone features (N, B, C, H, W) or (N*B, ...) without the transformer."""
        num_sequences = bb.shape[1]
        feat = self.extract_classification_feat(backbone_feat.reshape(-1, *backbone_feat.shape[-3:]), num_sequences)
        final_filter, _, losses = self.get_filter(feat, bb)
        return final_filter, losses

    def track_frame(self, filter_weights: torch.Tensor, backbone_feat: torch.Tensor) -> torch.Tensor:
        """Scores of a learned filter on backbone features (N, B, C, H, W) or (N, C, H, W)."""
        num_sequences = backbone_feat.shape[1] if backbone_feat.dim() == 5 else None
        feat = self.extract_classification_feat(backbone_feat.reshape(-1, *backbone_feat.shape[-3:]), num_sequences)
        return apply_filter(feat, filter_weights)
