"""Batched square crops around targets: one vectorised op for any number of images.

The same function cuts the crops for frame-level training, the test-time trackers and the SLT
rollouts, so the argmax rollout sees exactly the pixels the tracker sees at evaluation.

Conventions:
    * images: (B, 3, H, W) float tensors, RGB, values 0-255 (uint8 input is converted);
    * centres: (B, 2) ``(cx, cy)`` in image pixels, where pixel ``i`` covers ``[i, i+1)`` so the
      centre of a box ``xywh`` is ``(x + w/2, y + h/2)``;
    * sizes: (B,) side of the square region in image pixels;
    * output: (B, 3, out, out) float, RGB 0-255. Parts of the region outside the image are filled
      with the image's per-channel mean (as the Siamese trackers pad), or with zeros
      (``padding='zero'``, as OSTrack's ``sample_target`` pads).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ImageBatch = Union[torch.Tensor, Sequence[np.ndarray]]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def stack_images(images: ImageBatch, device: Union[str, torch.device] = "cpu",
                 channel_order: str = "rgb") -> Tuple[torch.Tensor, torch.Tensor]:
    """Stack HxWx3 uint8 RGB arrays of possibly different sizes into one (B,3,Hmax,Wmax) float tensor.

    Args:
        channel_order: 'rgb' (as the frames are) or 'bgr': reversing the channels of the few
            frames here spares a BGR network (see :func:`to_model_input`) a flip of every crop.

    Returns:
        (batch, image_hw): batch is zero-padded at the bottom/right; image_hw (B, 2) holds each
        image's true (H, W) so crops can treat the padding as outside the image.
    """
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}.")
    bgr = channel_order == "bgr"
    if isinstance(images, torch.Tensor):
        if images.dim() == 4 and images.shape[-1] == 3:  # (B,H,W,3)
            images = images.permute(0, 3, 1, 2)
        batch = images.to(device=device, dtype=torch.float32)
        batch = batch.flip(1) if bgr else batch
        hw = torch.tensor([batch.shape[-2], batch.shape[-1]], dtype=torch.float32, device=device)
        return batch, hw.expand(batch.shape[0], 2).clone()
    heights = [int(im.shape[0]) for im in images]
    widths = [int(im.shape[1]) for im in images]
    if len(set(heights)) == 1 and len(set(widths)) == 1:
        # One size (the usual case): one uint8 stack and one conversion pass, no zero fill.
        stacked = np.stack(images)
        stacked = torch.from_numpy(np.ascontiguousarray(stacked[..., ::-1]) if bgr else stacked).to(device)
        batch = stacked.permute(0, 3, 1, 2).to(dtype=torch.float32, memory_format=torch.contiguous_format)
        hw = torch.tensor([[heights[0], widths[0]]], dtype=torch.float32, device=device)
        return batch, hw.expand(len(images), 2).clone()
    batch = torch.zeros(len(images), 3, max(heights), max(widths), dtype=torch.float32, device=device)
    for i, im in enumerate(images):
        tensor = torch.from_numpy(np.ascontiguousarray(im[..., ::-1] if bgr else im)).to(device)
        batch[i, :, : heights[i], : widths[i]] = tensor.permute(2, 0, 1).float()
    hw = torch.tensor(list(zip(heights, widths)), dtype=torch.float32, device=device)
    return batch, hw


def stack_unique_images(images: Sequence[np.ndarray], device: Union[str, torch.device] = "cpu",
                        channel_order: str = "rgb") -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Like :func:`stack_images`, but each distinct array object is stacked once.

    Lockstep SLT rollouts of one episode crop the same frame (the argmax and the sampling
    trackers), so the frame is converted, mean-computed and padded once for all of them.
    Arrays are matched by identity, not by content.

    Returns:
        (batch, image_hw, image_index): batch (U,3,Hmax,Wmax) and image_hw (U,2) of the U distinct
        images, image_index (B,) long: the row of ``batch`` that input ``b`` refers to.
    """
    slot: dict = {}
    unique: List[np.ndarray] = []
    index = []
    for im in images:
        key = id(im)
        if key not in slot:
            slot[key] = len(unique)
            unique.append(im)
        index.append(slot[key])
    batch, hw = stack_images(unique, device=device, channel_order=channel_order)
    return batch, hw, torch.tensor(index, dtype=torch.long, device=batch.device)


def stack_frames(frames: ImageBatch, device: Union[str, torch.device] = "cpu", channel_order: str = "rgb"
                 ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Batch the current frame of B trackers: a (B,3,H,W)/(B,H,W,3) tensor as is, a list of
    arrays through :func:`stack_unique_images`. Returns (images, image_hw, image_index or None);
    ``channel_order`` as in :func:`stack_images`."""
    if isinstance(frames, torch.Tensor):
        images, hw = stack_images(frames, device=device, channel_order=channel_order)
        return images, hw, None
    return stack_unique_images(frames, device=device, channel_order=channel_order)


def crop_square(images: torch.Tensor, image_hw: torch.Tensor, centers_xy: torch.Tensor,
                sizes: torch.Tensor, out_size: int, sampling_ratio: int = 0,
                image_index: Optional[torch.Tensor] = None, padding: str = "mean") -> torch.Tensor:
    """Cut B square regions (centre ``centers_xy``, side ``sizes`` px) and resize them to ``out_size``.

    Args:
        images: (U,3,H,W) float 0-255, RGB (or BGR, see :func:`stack_images`; every channel is
            treated alike, so the crops keep the order), possibly zero-padded;
            U = B unless ``image_index`` is given.
        image_hw: (U,2) true (H, W) of each image.
        centers_xy: (B,2) region centres in image pixels.
        sizes: (B,) region side lengths in image pixels (> 0).
        out_size: output side in pixels.
        sampling_ratio: samples per output bin along each axis; 0 = ceil(size / out_size), which
            averages when shrinking (no aliasing) and reproduces pixels exactly at scale 1.
        image_index: optional (B,) long, the image each region is cut from (see
            :func:`stack_unique_images`); default region ``b`` from image ``b``.
        padding: what fills the region outside the image: 'mean' (each image's channel mean) or 'zero'.
    Returns:
        (B,3,out_size,out_size) float 0-255 in the images' channel order, padded outside the image.
    """
    if padding not in ("mean", "zero"):
        raise ValueError(f"crop_square: padding must be 'mean' or 'zero', got {padding!r}.")
    batch = images.shape[0]
    device = images.device
    heights = image_hw[:, 0].to(device)
    widths = image_hw[:, 1].to(device)
    full_h, full_w = images.shape[-2], images.shape[-1]
    # Subtracting each image's channel mean first makes the zero fill outside the image equal the
    # mean. A one-pixel zero border makes sampling just outside every image edge behave the same
    # whether or not the image was padded to share a batch with larger ones.
    if bool(((heights == full_h) & (widths == full_w)).all()):
        # no padding anywhere: the common case
        mean = images.mean(dim=(2, 3)) if padding == "mean" else images.new_zeros(batch, images.shape[1])
        centred = torch.nn.functional.pad(images - mean.view(batch, -1, 1, 1), (1, 1, 1, 1))
    else:
        centred = images.new_zeros(batch, images.shape[1], full_h + 2, full_w + 2)
        # Mean over the true image area only; padding stays zero after centring.
        rows = torch.arange(full_h, device=device).view(1, -1, 1)
        cols = torch.arange(full_w, device=device).view(1, 1, -1)
        inside = ((rows < heights.view(-1, 1, 1)) & (cols < widths.view(-1, 1, 1))).unsqueeze(1).float()
        mean = ((images * inside).sum(dim=(2, 3)) / inside.sum(dim=(2, 3)).clamp_min(1.0) if padding == "mean"
                else images.new_zeros(batch, images.shape[1]))
        centred[:, :, 1:-1, 1:-1] = (images - mean.view(batch, -1, 1, 1)) * inside
    half = sizes.to(device=device, dtype=torch.float32).view(-1) / 2
    cx = centers_xy[:, 0].to(device=device, dtype=torch.float32)
    cy = centers_xy[:, 1].to(device=device, dtype=torch.float32)
    usable = torch.isfinite(torch.stack((cx, cy, half))).all(dim=0) & (half > 0)
    if not bool(usable.all()):
        bad = (~usable).nonzero().view(-1).tolist()
        raise ValueError(f"crop_square: regions {bad} have a non-finite centre or a non-positive/non-finite "
                         f"side (centres {centers_xy[bad].tolist()}, sides {sizes.view(-1)[bad].tolist()} px); "
                         f"the tracker state that produced them is broken.")
    if image_index is None:
        image_index = torch.arange(batch, device=device)
    image_index = image_index.to(device=device, dtype=torch.long).view(-1)
    if image_index.numel() != cx.numel():
        raise ValueError(f"image_index has {image_index.numel()} entries for {cx.numel()} regions.")
    # Region edges in the padded image (+1), as roi_align(aligned=True) would see them.
    x1, y1, x2, y2 = cx - half + 1, cy - half + 1, cx + half + 1, cy + half + 1
    if sampling_ratio > 0:
        ratio = torch.full_like(x1, float(sampling_ratio))
    else:
        ratio = torch.ceil(torch.maximum(x2 - x1, y2 - y1) / out_size).clamp_min(1.0)
    return _average_bilinear_samples(centred, image_index, x1 - 0.5, y1 - 0.5, x2 - x1, y2 - y1, out_size, ratio,
                                     offset=mean[image_index])


def _average_bilinear_samples(images: torch.Tensor, image_index: torch.Tensor, left: torch.Tensor,
                              top: torch.Tensor, width: torch.Tensor, height: torch.Tensor, out_size: int,
                              ratio: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """roi_align(aligned=True) semantics through ``grid_sample``: each output bin averages r x r
    bilinear samples at ``left + (k + 0.5) * width / (out_size * r)`` (pixel ``p`` centred at ``p``),
    plus ``offset`` (B, C) per region and channel.

    Several times faster than torchvision's CPU roi_align for the same samples. Outside the image
    the samples are 0, like roi_align's; the caller pads a zero border so both agree at the edges.

    Lockstep trackers crop region ``b`` from image ``b % U`` (U images, B = c U regions): the c
    regions of an image are then stacked along the grid's height and sampled from the image
    itself, with no per-region copy of the image (regions needing more samples per bin than the
    least are redone below). Otherwise one ``grid_sample`` per distinct r on gathered images.
    """
    batch = image_index.numel()
    num_images, channels = images.shape[0], images.shape[1]
    height_px, width_px = images.shape[-2], images.shape[-1]
    ratios = sorted(int(r) for r in torch.unique(ratio).tolist())
    repeats = batch // max(num_images, 1)
    cyclic = batch > 0 and repeats * num_images == batch and torch.equal(
        image_index, torch.arange(batch, device=images.device) % num_images)
    if cyclic:
        r = ratios.pop(0)
        # (image u, repeat j) order: region j U + u becomes row u c + j of the stacked grid.
        order = torch.arange(batch, device=images.device).view(repeats, num_images).t().reshape(-1)
        grid = _sampling_grid(left[order], top[order], width[order], height[order], out_size * r,
                              height_px, width_px)
        samples = torch.nn.functional.grid_sample(
            images, grid.view(num_images, repeats * out_size * r, out_size * r, 2),
            mode="bilinear", padding_mode="zeros", align_corners=False)
        if r > 1:
            samples = torch.nn.functional.avg_pool2d(samples, r)
        out = images.new_empty(repeats, num_images, channels, out_size, out_size)
        stacked = samples.view(num_images, channels, repeats, out_size, out_size).permute(2, 0, 1, 3, 4)
        torch.add(stacked, offset.view(repeats, num_images, channels, 1, 1), out=out)
        out = out.view(batch, channels, out_size, out_size)
    else:
        out = images.new_empty(batch, channels, out_size, out_size)
    for r in ratios:
        rows = torch.nonzero(ratio == r, as_tuple=False).squeeze(1)
        grid = _sampling_grid(left[rows], top[rows], width[rows], height[rows], out_size * r, height_px, width_px)
        samples = torch.nn.functional.grid_sample(images.index_select(0, image_index[rows]), grid, mode="bilinear",
                                                  padding_mode="zeros", align_corners=False)
        if r > 1:
            samples = torch.nn.functional.avg_pool2d(samples, r)
        out[rows] = samples + offset[rows].view(-1, channels, 1, 1)
    return out


def _sampling_grid(left: torch.Tensor, top: torch.Tensor, width: torch.Tensor, height: torch.Tensor, n: int,
                   height_px: int, width_px: int) -> torch.Tensor:
    """(b, n, n, 2) ``grid_sample`` grid of n x n points evenly spread over each region (pixel coords)."""
    steps = (torch.arange(n, device=left.device, dtype=torch.float32) + 0.5) / n
    xs = left[:, None] + steps[None] * width[:, None]       # (b, n) pixel coordinates
    ys = top[:, None] + steps[None] * height[:, None]
    gx = (xs + 0.5) * (2.0 / width_px) - 1.0                 # align_corners=False
    gy = (ys + 0.5) * (2.0 / height_px) - 1.0
    return torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)


def to_model_input(crops_rgb255: torch.Tensor, input_format: str, channel_order: str = "rgb") -> torch.Tensor:
    """Convert RGB 0-255 crops into a network's input convention.

    ``'bgr255'``: pysot models (SiamRPN++, SiamAttn): BGR, 0-255, no normalisation.
    ``'rgb_imagenet'``: pytracking models (TransT, TrDiMP): RGB/255 normalised with ImageNet mean/std.
    ``'rgb01'``: RGB/255.

    ``channel_order='bgr'`` says the crops were cut from frames stacked in BGR order
    (:func:`stack_frames`); 'bgr255' then returns them as they are.
    """
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}.")
    if channel_order == "bgr":
        if input_format == "bgr255":
            return crops_rgb255
        crops_rgb255 = crops_rgb255.flip(1)
    if input_format == "bgr255":
        return crops_rgb255.flip(1)
    if input_format == "rgb01":
        return crops_rgb255 / 255.0
    if input_format == "rgb_imagenet":
        mean = torch.tensor(IMAGENET_MEAN, device=crops_rgb255.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=crops_rgb255.device).view(1, 3, 1, 1)
        return (crops_rgb255 / 255.0 - mean) / std
    raise ValueError(f"Unknown input_format '{input_format}'; expected 'bgr255', 'rgb01' or 'rgb_imagenet'.")


def box_xywh_to_center_size(boxes_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N,4) xywh px -> ((N,2) centre xy px, (N,2) size wh px)."""
    return boxes_xywh[..., :2] + boxes_xywh[..., 2:] / 2, boxes_xywh[..., 2:].clone()


def center_size_to_box_xywh(center_xy: torch.Tensor, size_wh: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`box_xywh_to_center_size`."""
    return torch.cat([center_xy - size_wh / 2, size_wh], dim=-1)


def boxes_to_crop_frame(boxes_xywh: torch.Tensor, centers_xy: torch.Tensor, sizes: torch.Tensor,
                        out_size: int) -> torch.Tensor:
    """Map image-frame boxes (B,4) xywh px into the crop frame of :func:`crop_square` (xywh crop px)."""
    scale = (out_size / sizes.float()).view(-1, 1)
    origin = centers_xy - sizes.float().view(-1, 1) / 2
    xy = (boxes_xywh[:, :2] - origin) * scale
    return torch.cat([xy, boxes_xywh[:, 2:] * scale], dim=1)


def crop_list(images: List[np.ndarray], centers_xy: torch.Tensor, sizes: torch.Tensor, out_size: int,
              device: Union[str, torch.device] = "cpu", padding: str = "mean") -> torch.Tensor:
    """Convenience: stack HxWx3 uint8 arrays and crop them in one op (``padding`` as in :func:`crop_square`)."""
    batch, hw = stack_images(images, device=device)
    return crop_square(batch, hw, centers_xy.to(device), sizes.to(device), out_size, padding=padding)


def model_input_to_rgb_uint8(model_input: torch.Tensor, input_format: str) -> np.ndarray:
    """Inverse of :func:`to_model_input` for one crop (3, S, S) -> S x S x 3 uint8 RGB (live views)."""
    x = model_input.detach().float()
    if input_format == "bgr255":
        rgb = x.flip(0)
    elif input_format == "rgb01":
        rgb = x * 255.0
    elif input_format == "rgb_imagenet":
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
        rgb = (x * std + mean) * 255.0
    else:
        raise ValueError(f"Unknown input_format '{input_format}'; expected 'bgr255', 'rgb01' or 'rgb_imagenet'.")
    return rgb.clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()
