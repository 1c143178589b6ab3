"""ResNet-50 with atrous (dilated) layer3/layer4, laid out like the SiamRPN++ backbone.

The network keeps an output stride of 8 in layer2, layer3 and layer4 so that all three
feature levels can be cross-correlated on the same 25x25 grid. Its parameter names and
shapes equal those of the official SiamRPN++ checkpoints (``backbone.*`` keys), and the
following details of the official layout are reproduced because they change the output
geometry or the weight shapes:

* ``conv1`` has no padding (127 -> 61, 255 -> 125).
* The first block of layer2 uses a 3x3 stride-2 conv2 *without* padding, and its
  downsample branch is a 3x3 stride-2 conv without padding (127 -> 15, 255 -> 31).
* layer3 / layer4 have stride 1 and dilation 2 / 4 in every block, except that the first
  block's 3x3 conv uses half the dilation (1 / 2).
* The downsample convs of layer3 / layer4 are 3x3 (dilation 1 / 2, "same" padding), not 1x1.

Input convention of the official weights: BGR images, float values in [0, 255], no mean
subtraction or scaling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Sequence

import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck

__all__ = ["ResNetAtrous", "resnet50_atrous", "load_resnet_weights", "WeightLoadReport"]


def _make_block(inplanes: int, planes: int, stride: int, dilation: int, first: bool,
                downsample: nn.Module | None) -> Bottleneck:
    """One bottleneck with the official atrous padding rules for its 3x3 conv."""
    block = Bottleneck(inplanes, planes, stride=stride, downsample=downsample)
    if first and dilation > 1:
        # The block that changes the channel count sees the un-dilated grid of the
        # previous stage, so its 3x3 conv uses half the stage's dilation.
        dilation = dilation // 2
    # Official rule: padding = 2 - stride for undilated convs (so the stride-2 conv of
    # layer2 has no padding), and padding = dilation for dilated ones.
    padding = dilation if dilation > 1 else 2 - stride
    # Replacing the attribute keeps its position in the module dict, so the state-dict
    # order (conv1, bn1, conv2, bn2, conv3, bn3, downsample) is unchanged.
    block.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=padding,
                            dilation=dilation, bias=False)
    return block


class ResNetAtrous(nn.Module):
    """ResNet-50 trunk with stride-8 atrous layer3/layer4 (SiamRPN++ layout).

    Args:
        layers: number of bottleneck blocks per stage (ResNet-50: 3, 4, 6, 3).
        used_layers: which outputs ``forward`` returns, indices into
            [conv1 output (after ReLU), layer1, layer2, layer3, layer4]. SiamRPN++ uses (2, 3, 4).

    ``forward(x)`` takes images (B, 3, H, W), BGR float 0-255 for the official weights, and
    returns a list of feature maps, one per entry of ``used_layers``. For a 127 px
    template every stride-8 level is 15x15; for a 255 px search region it is 31x31.
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), used_layers: Sequence[int] = (2, 3, 4)) -> None:
        super().__init__()
        self.used_layers = tuple(used_layers)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0], stride=1, dilation=1)
        self.layer2 = self._make_layer(128, layers[1], stride=2, dilation=1)
        # layer3 and layer4 are always built (as in the released checkpoints) even when
        # their outputs are not used, so that state dicts stay interchangeable.
        self.layer3 = self._make_layer(256, layers[2], stride=1, dilation=2)
        self.layer4 = self._make_layer(512, layers[3], stride=1, dilation=4)
        self.channels = {0: 64, 1: 256, 2: 512, 3: 1024, 4: 2048}
        self.reset_parameters()

    @property
    def out_channels(self) -> List[int]:
        """Channel count of each returned feature level."""
        return [self.channels[i] for i in self.used_layers]

    def _make_layer(self, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            if stride == 1 and dilation == 1:
                conv = nn.Conv2d(self.inplanes, out, kernel_size=1, stride=1, bias=False)
            else:
                # Official layout: 3x3 projection, unpadded when it strides (layer2),
                # dilated by half the stage dilation otherwise (layer3, layer4).
                dd = dilation // 2 if dilation > 1 else 1
                pad = dd if dilation > 1 else 0
                conv = nn.Conv2d(self.inplanes, out, kernel_size=3, stride=stride, padding=pad,
                                 dilation=dd, bias=False)
            downsample = nn.Sequential(conv, nn.BatchNorm2d(out))
        modules = [_make_block(self.inplanes, planes, stride, dilation, True, downsample)]
        self.inplanes = out
        modules += [_make_block(out, planes, 1, dilation, False, None) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def reset_parameters(self) -> None:
        """He-normal convs (std sqrt(2 / (k*k*out))), BatchNorm weight 1 and bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        outs = [x]
        x = self.maxpool(x)
        last = max(self.used_layers)
        for i, layer in enumerate((self.layer1, self.layer2, self.layer3, self.layer4), start=1):
            if i > last:
                break
            x = layer(x)
            outs.append(x)
        return [outs[i] for i in self.used_layers]


def resnet50_atrous(used_layers: Sequence[int] = (2, 3, 4)) -> ResNetAtrous:
    """SiamRPN++ ResNet-50 (randomly initialised; see ``load_resnet_weights``)."""
    return ResNetAtrous((3, 4, 6, 3), used_layers)


@dataclass
class WeightLoadReport:
    """What ``load_resnet_weights`` did: keys loaded, missing from the file, unused, or skipped for shape."""

    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shape_mismatch: List[str] = field(default_factory=list)


_PREFIXES = ("module.", "backbone.", "features.")


def _strip_prefixes(name: str, own: dict) -> str:
    """Drop wrapper prefixes from ``name`` until it matches a key of ``own`` (or none is left)."""
    while name not in own:
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        if prefix is None:
            break
        name = name[len(prefix):]
    return name


def load_resnet_weights(module: nn.Module, path: str) -> WeightLoadReport:
    """Load ImageNet ResNet weights from a local file into ``module`` (never downloads).

    Accepts a bare state dict or a dict with a ``state_dict`` / ``model`` / ``net`` entry,
    read with ``torch.load(weights_only=True)``. Leading ``module.``, ``backbone.`` and
    ``features.`` prefixes are stripped. Keys the module lacks (e.g. ``fc.*``) are reported
    as unexpected; tensors whose shape differs (e.g. the 1x1 layer2 downsample of a
    torchvision ResNet-50 against the 3x3 one here) are skipped and reported, so that
    weights from a differently laid-out ResNet load as far as they fit.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"Backbone weight file not found: {path}. Pass the path of a local "
                                "ResNet-50 state dict (e.g. pysot's pretrained_models/resnet50.model).") from e
    for key in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(obj).__name__}).")
    own = module.state_dict()
    report = WeightLoadReport()
    to_load = {}
    for k, v in obj.items():
        name = _strip_prefixes(k, own)
        if name not in own:
            report.unexpected.append(k)
        elif not torch.is_tensor(v) or v.shape != own[name].shape:
            report.shape_mismatch.append(name)
        else:
            to_load[name] = v
    module.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    # num_batches_tracked is absent from old files and carries no learned value.
    report.missing = [k for k in own if k not in to_load and k not in report.shape_mismatch
                      and not k.endswith("num_batches_tracked")]
    return report
