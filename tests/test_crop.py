import pytest
import numpy as np
import torch

from ltr.data.crop import boxes_to_crop_frame, crop_list, crop_square, stack_images, to_model_input


def _image(h, w, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_identity_crop_reproduces_pixels():
    im = _image(16, 16, 0)
    crops = crop_list([im], torch.tensor([[8.0, 8.0]]), torch.tensor([16.0]), 16)
    np.testing.assert_allclose(crops[0].permute(1, 2, 0).numpy(), im.astype(np.float32), atol=1e-3)


def test_outside_region_is_mean_padded():
    im = _image(10, 12, 1)
    crops = crop_list([im], torch.tensor([[-100.0, -100.0]]), torch.tensor([20.0]), 8)
    mean = im.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(crops[0].mean(dim=(1, 2)).numpy(), mean, rtol=1e-5)


def test_batched_equals_single_with_mixed_sizes():
    ims = [_image(20, 30, 2), _image(33, 17, 3), _image(25, 25, 4)]
    centers = torch.tensor([[10.0, 12.0], [3.0, 30.0], [20.0, 5.0]])
    sizes = torch.tensor([14.0, 22.0, 9.5])
    batched = crop_list(ims, centers, sizes, 12)
    for i, im in enumerate(ims):
        single = crop_list([im], centers[i:i + 1], sizes[i:i + 1], 12)
        # Sample positions are normalised by the padded batch size, so float32 rounding differs
        # by ~1e-6 px between the two layouts: ~1e-4 on 0-255 values.
        torch.testing.assert_close(batched[i], single[0], atol=1e-3, rtol=0)


def test_padding_of_stack_does_not_leak_into_crop():
    small, big = _image(8, 8, 5), _image(40, 40, 6)
    batch, hw = stack_images([small, big])
    assert batch.shape == (2, 3, 40, 40)
    crop = crop_square(batch, hw, torch.tensor([[8.0, 8.0], [0.0, 0.0]]), torch.tensor([8.0, 4.0]), 8)
    # Right/bottom half of the first crop lies outside the 8x8 image -> filled with its mean.
    mean = small.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(crop[0, :, 5:, 5:].mean(dim=(1, 2)).numpy(), mean, rtol=1e-4)


def test_boxes_to_crop_frame():
    box = torch.tensor([[40.0, 50.0, 20.0, 10.0]])
    out = boxes_to_crop_frame(box, torch.tensor([[50.0, 55.0]]), torch.tensor([40.0]), 80)
    torch.testing.assert_close(out, torch.tensor([[20.0, 30.0, 40.0, 20.0]]))


def test_model_input_formats():
    x = torch.rand(1, 3, 2, 2) * 255
    torch.testing.assert_close(to_model_input(x, "bgr255")[:, 0], x[:, 2])
    assert to_model_input(x, "rgb01").max() <= 1.0


def test_unique_frames_crop_like_duplicated_frames():
    """Trackers sharing a frame array get the crops they would get from their own copy."""
    from ltr.data.crop import stack_frames
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (50, 20, 3), dtype=np.uint8)
    frames = [a, b, a, b, a]
    centers = torch.tensor([[10.0, 12.0], [5.0, 40.0], [38.0, 1.0], [10.0, 10.0], [20.0, 15.0]])
    sizes = torch.tensor([16.0, 30.0, 9.0, 64.0, 25.0])
    images, hw, index = stack_frames(frames)
    assert images.shape[0] == 2 and index.tolist() == [0, 1, 0, 1, 0]
    unique = crop_square(images, hw, centers, sizes, 12, image_index=index)
    copies, copies_hw = stack_images([f.copy() for f in frames])
    torch.testing.assert_close(unique, crop_square(copies, copies_hw, centers, sizes, 12))
    with pytest.raises(ValueError, match="image_index"):
        crop_square(images, hw, centers, sizes, 12, image_index=index[:3])


def _roi_align_reference(images, hw, centers, sizes, out_size):
    """The crop written with torchvision's roi_align (aligned=True, adaptive sampling)."""
    from torchvision.ops import roi_align
    rows = torch.arange(images.shape[-2]).view(1, -1, 1)
    cols = torch.arange(images.shape[-1]).view(1, 1, -1)
    inside = ((rows < hw[:, 0].view(-1, 1, 1)) & (cols < hw[:, 1].view(-1, 1, 1))).unsqueeze(1).float()
    mean = (images * inside).sum(dim=(2, 3)) / inside.sum(dim=(2, 3))
    centred = torch.nn.functional.pad((images - mean[..., None, None]) * inside, (1, 1, 1, 1))
    half = sizes / 2
    boxes = torch.stack([torch.arange(len(sizes)).float(), centers[:, 0] - half + 1, centers[:, 1] - half + 1,
                         centers[:, 0] + half + 1, centers[:, 1] + half + 1], dim=1)
    return roi_align(centred, boxes, (out_size, out_size), 1.0, 0, aligned=True) + mean[..., None, None]


def test_crop_equals_roi_align_reference():
    """Bilinear samples averaged per bin, mean fill, edges: as roi_align(aligned=True) computes them."""
    gen = torch.Generator().manual_seed(0)
    frames = [_image(40, 56, 1), _image(33, 20, 2), _image(64, 64, 3), _image(40, 56, 4), _image(12, 70, 5)]
    images, hw = stack_images(frames)
    n = len(frames)
    centers = torch.rand(n, 2, generator=gen) * torch.tensor([80.0, 70.0]) - 10.0
    sizes = torch.tensor([7.3, 16.0, 61.7, 95.0, 150.2])  # ratios 1 to 10 for 16-px outputs
    got = crop_square(images, hw, centers, sizes, 16)
    torch.testing.assert_close(got, _roi_align_reference(images, hw, centers, sizes, 16), atol=2e-3, rtol=0)


@pytest.mark.parametrize("center, side", [((float("nan"), 4.0), 8.0), ((4.0, 4.0), float("inf")), ((4.0, 4.0), 0.0)])
def test_broken_regions_are_rejected_with_their_index(center, side):
    images, hw = stack_images([_image(12, 12, 2), _image(12, 12, 3)])
    centers = torch.tensor([[6.0, 6.0], list(center)])
    sizes = torch.tensor([8.0, side])
    with pytest.raises(ValueError, match=r"regions \[1\]"):
        crop_square(images, hw, centers, sizes, 8)


def test_lockstep_layout_equals_roi_align_reference():
    """Region b cut from image b % U (the SLT explore layout), same-size frames, mixed sample counts."""
    from ltr.data.crop import stack_frames
    frames = [_image(48, 64, 10 + i) for i in range(3)]
    rows = frames * 3  # 3 trackers per frame, region b from frame b % 3
    images, hw, index = stack_frames(rows)
    assert images.shape[0] == 3 and index.tolist() == [0, 1, 2] * 3
    gen = torch.Generator().manual_seed(1)
    centers = torch.rand(9, 2, generator=gen) * torch.tensor([70.0, 60.0]) - 5.0
    sizes = torch.tensor([10.0, 17.5, 30.0, 12.0, 40.0, 9.0, 16.0, 70.0, 15.9])  # 1 to 5 samples per bin
    got = crop_square(images, hw, centers, sizes, 16, image_index=index)
    copies, copies_hw = stack_images([f.copy() for f in rows])
    torch.testing.assert_close(got, _roi_align_reference(copies, copies_hw, centers, sizes, 16), atol=2e-3, rtol=0)
    one_ratio = crop_square(images, hw, centers, sizes.clamp(max=16.0), 16, image_index=index)
    torch.testing.assert_close(one_ratio, crop_square(copies, copies_hw, centers, sizes.clamp(max=16.0), 16))


@pytest.mark.parametrize("input_format", ["bgr255", "rgb_imagenet"])
def test_frames_stacked_in_bgr_give_the_same_model_input(input_format):
    """Reversing the channels of the stacked frames instead of every crop changes nothing downstream."""
    from ltr.data.crop import stack_frames
    same_size = [_image(30, 40, 20), _image(30, 40, 21)]
    mixed = [_image(30, 40, 22), _image(25, 33, 23)]
    centers = torch.tensor([[10.0, 12.0], [20.0, 15.0], [5.0, 25.0], [30.0, 2.0]])
    sizes = torch.tensor([16.0, 30.0, 50.0, 9.0])
    for frames in (same_size * 2, mixed * 2, torch.from_numpy(np.stack(same_size * 2))):
        outs = []
        for order in ("rgb", "bgr"):
            images, hw, index = stack_frames(frames, channel_order=order)
            crops = crop_square(images, hw, centers, sizes, 12, image_index=index)
            outs.append(to_model_input(crops, input_format, channel_order=order))
        torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="channel_order"):
        stack_images(same_size, channel_order="hsv")
