"""TrDiMP with the official test-time parameters (paper-size network, 352 px samples)."""
from pytracking.utils.params import TrackerParams, default_device, network_file


def official_values() -> dict:
    """The reference ``trdimp`` parameter values (also the base of the other sets)."""
    return dict(
        image_sample_size=22 * 16, search_area_scale=6, border_mode="inside_major", patch_max_scale_change=1.5,
        # sample memory and online filter learning
        sample_memory_size=50, learning_rate=0.01, init_samples_minimum_weight=0.25, train_skipping=20,
        update_classifier=True, net_opt_iter=10, net_opt_update_iter=2, net_opt_hn_iter=1,
        # transformer memory: a frame every 5, at most 20
        transformer_skipping=5, transformer_memory_size=20,
        window_output=False,
        # first-frame augmentation
        use_augmentation=True,
        augmentation={"fliplr": True, "rotate": [10, -10, 45, -45], "blur": [(3, 1), (1, 3), (2, 2)],
                      "relativeshift": [(0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)],
                      "dropout": (2, 0.2)},
        augmentation_expansion_factor=2, random_shift_factor=1 / 3,
        # localisation
        score_preprocess="none", advanced_localization=True, target_not_found_threshold=0.25,
        distractor_threshold=0.8, hard_negative_threshold=0.5, target_neighborhood_scale=2.2,
        dispalcement_scale=0.8, hard_negative_learning_rate=0.02, update_scale_when_uncertain=True,
        # IoU-Net
        use_iou_net=True, box_refinement_space="relative", iounet_augmentation=False, iounet_k=3,
        num_init_random_boxes=9, box_jitter_pos=0.1, box_jitter_sz=0.5, maximal_aspect_ratio=6,
        box_refinement_iter=10, box_refinement_step_length=2.5e-3, box_refinement_step_decay=1,
        seed=0,
    )


def parameters() -> TrackerParams:
    return TrackerParams(name="trdimp", model_size="paper", checkpoint=network_file("trdimp.pth"), device=default_device(), **official_values())
