"""ResNet feature extractor with pytracking module names.

The network is assembled from torchvision's residual blocks, so parameter names
match both torchvision's ImageNet files and pytracking-style tracker checkpoints:
``conv1``, ``bn1``, ``layer1`` ... ``layer4`` and ``fc``.

Options cover the variants the trackers need:

* ``last_layer``: build the network only up to ``'layer3'`` (TransT) or fully.
* ``include_fc``: keep the classification layer (TrDiMP's checkpoints contain it even
  though tracking never uses it).
* ``layer3_dilation``: ``'none'`` is the standard ResNet (layer3 stride 2, output
  stride 16); ``'first_block'`` is TransT's variant: layer3 keeps stride 1 and only
  its first bottleneck uses a dilated 3x3 convolution (dilation 2, padding 2), so
  layer3 features have stride 8.
* ``frozen_layers``: layers whose parameters get no gradient and whose BatchNorm
  statistics stay fixed in training mode.

ImageNet weights are read only from a local file (:func:`load_imagenet_weights`).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

__all__ = [
    "ResNet",
    "resnet50",
    "resnet18",
    "resnet_tiny",
    "load_imagenet_weights",
    "LAYER_NAMES",
]

#: Names of the feature blocks in forward order.
LAYER_NAMES: Tuple[str, ...] = ("conv1", "layer1", "layer2", "layer3", "layer4", "fc")

Block = Union[Type[BasicBlock], Type[Bottleneck]]


class ResNet(nn.Module):
    """ResNet that returns the feature maps of selected blocks.

    Args:
        block: torchvision ``Bottleneck`` or ``BasicBlock``.
        layers: number of blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50. Only the
            stages up to ``last_layer`` are used (a 3-element sequence is enough for
            ``last_layer='layer3'``).
        output_layers: blocks whose outputs ``forward`` returns, any of
            :data:`LAYER_NAMES`. Computation stops after the deepest one requested.
        last_layer: deepest stage that is built: ``'layer3'`` or ``'layer4'``.
        include_fc: build ``avgpool`` + ``fc`` (requires ``last_layer='layer4'``).
        num_classes: output size of ``fc``.
        inplanes: channels after ``conv1`` (64 for the standard network; smaller values
            give width-reduced networks for CPU experiments).
        layer3_dilation: ``'none'`` (standard, layer3 stride 2) or ``'first_block'``
            (TransT: layer3 stride 1, first block dilation 2, the others dilation 1).
        frozen_layers: block names to freeze, or ``'all'``.
        norm_layer: normalisation layer class (plain ``BatchNorm2d`` by default, which is
            what the official checkpoints contain: running stats and
            ``num_batches_tracked`` are part of the state dict).
    """

    def __init__(
        self,
        block: Block,
        layers: Sequence[int],
        output_layers: Sequence[str] = ("layer3",),
        last_layer: str = "layer4",
        include_fc: bool = True,
        num_classes: int = 1000,
        inplanes: int = 64,
        layer3_dilation: str = "none",
        frozen_layers: Union[str, Sequence[str]] = (),
        norm_layer: Optional[Type[nn.Module]] = None,
    ) -> None:
        super().__init__()
        if last_layer not in ("layer3", "layer4"):
            raise ValueError(f"last_layer must be 'layer3' or 'layer4', got {last_layer!r}")
        if include_fc and last_layer != "layer4":
            raise ValueError("include_fc=True needs last_layer='layer4'")
        if layer3_dilation not in ("none", "first_block"):
            raise ValueError(f"layer3_dilation must be 'none' or 'first_block', got {layer3_dilation!r}")
        if layer3_dilation == "first_block" and block is not Bottleneck:
            raise ValueError("a dilated layer3 needs Bottleneck blocks (torchvision's BasicBlock has no dilation)")
        n_stages = 4 if last_layer == "layer4" else 3
        if len(layers) < n_stages:
            raise ValueError(f"layers needs {n_stages} entries for last_layer={last_layer!r}, got {list(layers)}")
        available = ["conv1", "layer1", "layer2", "layer3"] + (["layer4"] if n_stages == 4 else []) + (
            ["fc"] if include_fc else [])
        for name in output_layers:
            if name not in available:
                raise ValueError(f"output layer {name!r} is not built; available: {available}")

        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.output_layers: List[str] = list(output_layers)
        self.last_layer = last_layer
        self.include_fc = include_fc
        self.layer3_dilation = layer3_dilation
        self._inplanes = inplanes

        # Registration order fixes the state-dict order: conv1, bn1, layer1..layerN, fc.
        self.conv1 = nn.Conv2d(3, inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, inplanes, layers[0])
        self.layer2 = self._make_layer(block, inplanes * 2, layers[1], stride=2)
        if layer3_dilation == "first_block":
            self.layer3 = self._make_layer(block, inplanes * 4, layers[2], stride=1, first_dilation=2)
            layer3_stride = 1
        else:
            self.layer3 = self._make_layer(block, inplanes * 4, layers[2], stride=2)
            layer3_stride = 2
        if n_stages == 4:
            self.layer4 = self._make_layer(block, inplanes * 8, layers[3], stride=2)
        if include_fc:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(inplanes * 8 * block.expansion, num_classes)

        exp = block.expansion
        self._strides: Dict[str, int] = {"conv1": 2, "layer1": 4, "layer2": 8, "layer3": 8 * layer3_stride}
        self._channels: Dict[str, int] = {"conv1": inplanes, "layer1": inplanes * exp,
                                          "layer2": inplanes * 2 * exp, "layer3": inplanes * 4 * exp}
        if n_stages == 4:
            self._strides["layer4"] = self._strides["layer3"] * 2
            self._channels["layer4"] = inplanes * 8 * exp
        if include_fc:
            self._channels["fc"] = num_classes

        self._init_weights()
        self.frozen_layers: List[str] = []
        self.freeze(frozen_layers)

    # ------------------------------------------------------------------ construction
    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1,
                    first_dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                self._norm_layer(planes * block.expansion),
            )
        # Only the first block may be dilated; the following ones keep dilation 1, as in
        # the TransT backbone (this is not the usual "dilate the whole stage" scheme).
        mods = [block(self._inplanes, planes, stride, downsample, dilation=first_dilation,
                      norm_layer=self._norm_layer)]
        self._inplanes = planes * block.expansion
        for _ in range(1, blocks):
            mods.append(block(self._inplanes, planes, norm_layer=self._norm_layer))
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        # He initialisation (fan_out), BatchNorm to identity: the common ResNet default.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ info
    def out_feature_strides(self, layer: Optional[str] = None) -> Union[int, Dict[str, int]]:
        """Stride (input pixels per feature cell) of one block, or a dict for all blocks."""
        return dict(self._strides) if layer is None else self._strides[layer]

    def out_feature_channels(self, layer: Optional[str] = None) -> Union[int, Dict[str, int]]:
        """Channel count of one block's output, or a dict for all blocks."""
        return dict(self._channels) if layer is None else self._channels[layer]

    # ------------------------------------------------------------------ freezing
    def freeze(self, layers: Union[str, Iterable[str]]) -> None:
        """Freeze the named blocks (``'all'`` = everything): no gradients, fixed BN statistics.

        ``'conv1'`` also freezes ``bn1``, since both form the stem.
        """
        if isinstance(layers, str):
            if layers != "all":
                raise ValueError(f"frozen_layers must be a list of block names or 'all', got {layers!r}")
            layers = [n for n in ("conv1", "layer1", "layer2", "layer3", "layer4", "fc") if self._has(n)]
        for name in layers:
            if name == "bn1":
                name = "conv1"
            if not self._has(name):
                raise ValueError(f"cannot freeze {name!r}: not built")
            for mod in self._modules_of(name):
                for p in mod.parameters():
                    p.requires_grad_(False)
                mod.eval()
            if name not in self.frozen_layers:
                self.frozen_layers.append(name)

    def _has(self, name: str) -> bool:
        return hasattr(self, name) and isinstance(getattr(self, name), nn.Module)

    def _modules_of(self, name: str) -> List[nn.Module]:
        return [self.conv1, self.bn1] if name == "conv1" else [getattr(self, name)]

    def train(self, mode: bool = True) -> "ResNet":
        """Switch train/eval mode, keeping frozen blocks in eval mode (fixed BN statistics)."""
        super().train(mode)
        for name in self.frozen_layers:
            for mod in self._modules_of(name):
                mod.eval()
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, output_layers: Optional[Sequence[str]] = None) -> "OrderedDict[str, torch.Tensor]":
        """Run the network on a normalised image batch ``x`` (B,3,H,W).

        Returns an ordered dict block name -> feature map, for ``output_layers`` (default:
        the ones given at construction). Deeper blocks are not computed.
        """
        wanted = list(self.output_layers if output_layers is None else output_layers)
        if not wanted:
            raise ValueError("no output layers requested")
        out: "OrderedDict[str, torch.Tensor]" = OrderedDict()

        def done(name: str, value: torch.Tensor) -> bool:
            if name in wanted:
                out[name] = value
            return len(out) == len(wanted)

        x = self.relu(self.bn1(self.conv1(x)))
        if done("conv1", x):
            return out
        x = self.layer1(self.maxpool(x))
        if done("layer1", x):
            return out
        x = self.layer2(x)
        if done("layer2", x):
            return out
        x = self.layer3(x)
        if done("layer3", x):
            return out
        if self._has("layer4"):
            x = self.layer4(x)
            if done("layer4", x):
                return out
        if self.include_fc:
            x = self.fc(torch.flatten(self.avgpool(x), 1))
            if done("fc", x):
                return out
        missing = [n for n in wanted if n not in out]
        raise ValueError(f"output layers {missing} are not built in this network")

    def load_imagenet_weights(self, path: Union[str, os.PathLike]) -> Tuple[List[str], List[str]]:
        """Load ImageNet weights from a local file; see :func:`load_imagenet_weights`."""
        return load_imagenet_weights(self, path)


def load_imagenet_weights(model: ResNet, path: Union[str, os.PathLike]) -> Tuple[List[str], List[str]]:
    """Copy an ImageNet ResNet state dict from a local file into ``model``.

    The file may be a torchvision ``resnet50-*.pth`` (a bare state dict) or a dict holding
    one under ``'state_dict'``, ``'model'`` or ``'net'``; a ``module.`` prefix is removed.
    Entries for blocks the model does not build (e.g. ``layer4``/``fc`` of a TransT
    backbone) are skipped; everything the model has must be present with the same shape.
    Nothing is ever downloaded.

    Returns:
        (skipped_keys, missing_keys): keys of the file that were not used, and model keys
        that the file lacked (only ``num_batches_tracked`` counters are tolerated there).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"ImageNet weight file not found: {path}. Place a torchvision ResNet state dict there "
            "(e.g. resnet50-0676ba61.pth) or build the backbone without pretrained weights.")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "net"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not contain a state dict (found {type(obj).__name__})")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}

    own = model.state_dict()
    usable: Dict[str, torch.Tensor] = {}
    skipped: List[str] = []
    for k, v in state.items():
        if k in own:
            if tuple(own[k].shape) != tuple(v.shape):
                raise ValueError(f"{path}: shape mismatch for {k}: file {tuple(v.shape)}, model {tuple(own[k].shape)}")
            usable[k] = v
        else:
            skipped.append(k)
    missing = [k for k in own if k not in usable]
    serious = [k for k in missing if not k.endswith("num_batches_tracked")]
    if serious:
        raise ValueError(f"{path} lacks {len(serious)} weights of the model, e.g. {serious[:3]}; "
                         "is it a ResNet file of the same depth and width?")
    model.load_state_dict(usable, strict=False)
    return skipped, missing


def _check_layers(output_layers: Optional[Sequence[str]]) -> List[str]:
    if output_layers is None:
        return ["layer3"]
    for name in output_layers:
        if name not in LAYER_NAMES:
            raise ValueError(f"unknown layer {name!r}; choose from {LAYER_NAMES}")
    return list(output_layers)


def resnet50(output_layers: Optional[Sequence[str]] = None, pretrained_path: Optional[str] = None,
             last_layer: str = "layer4", include_fc: bool = True, layer3_dilation: str = "none",
             frozen_layers: Union[str, Sequence[str]] = ()) -> ResNet:
    """ResNet-50 (Bottleneck, 3-4-6-3).

    TransT uses ``last_layer='layer3', include_fc=False, layer3_dilation='first_block'``
    (1024-channel features at stride 8); TrDiMP uses the defaults (full network, fc kept).
    ``pretrained_path``: optional local ImageNet file.
    """
    model = ResNet(Bottleneck, (3, 4, 6, 3), _check_layers(output_layers), last_layer=last_layer,
                   include_fc=include_fc, layer3_dilation=layer3_dilation, frozen_layers=())
    if pretrained_path is not None:
        load_imagenet_weights(model, pretrained_path)
    model.freeze(frozen_layers)
    return model


def resnet18(output_layers: Optional[Sequence[str]] = None, pretrained_path: Optional[str] = None,
             last_layer: str = "layer4", include_fc: bool = True,
             frozen_layers: Union[str, Sequence[str]] = ()) -> ResNet:
    """ResNet-18 (BasicBlock, 2-2-2-2), standard strides."""
    model = ResNet(BasicBlock, (2, 2, 2, 2), _check_layers(output_layers), last_layer=last_layer,
                   include_fc=include_fc)
    if pretrained_path is not None:
        load_imagenet_weights(model, pretrained_path)
    model.freeze(frozen_layers)
    return model


def resnet_tiny(output_layers: Optional[Sequence[str]] = None, inplanes: int = 8,
                layers: Sequence[int] = (1, 1, 1, 1), last_layer: str = "layer3",
                include_fc: bool = False, layer3_dilation: str = "first_block",
                frozen_layers: Union[str, Sequence[str]] = ()) -> ResNet:
    """Width- and depth-reduced Bottleneck ResNet for CPU experiments.

    With the defaults (``inplanes=8``, one block per stage, up to layer3 with TransT's
    stride-8 layer3) layer3 has ``inplanes*16 = 128`` channels at stride 8 and about
    33 k parameters.
    """
    return ResNet(Bottleneck, layers, _check_layers(output_layers), last_layer=last_layer,
                  include_fc=include_fc, inplanes=inplanes, layer3_dilation=layer3_dilation,
                  frozen_layers=frozen_layers)
