"""Training-stream overrides of the synthetic data (harder episodes for the main job)."""
import pytest

from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.admin.config import ConfigError


def test_overrides_reach_the_training_videos() -> None:
    settings = Settings()
    settings.seed = 3
    plain = synthetic_train_datasets(settings)[0]
    settings.synthetic_train_overrides = {"num_distractors": (4, 4), "distractor_similarity": 0.95}
    hard = synthetic_train_datasets(settings, fine_tune=True)[0]
    assert hard.config.num_distractors == (4, 4) and hard.config.distractor_similarity == 0.95
    assert all(hard.get_video(i).num_distractors == 4 for i in range(3))
    assert plain.config.num_distractors == (1, 3)


def test_unknown_override_names_the_known_fields() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="known fields: .*num_distractors"):
        settings.synthetic_train_overrides = {"distractors": 3}  # checked when set, before any data is made


def test_command_line_overrides_are_parsed_and_checked() -> None:
    from ltr.run_training import build_settings
    settings = build_settings("siamrpnpp", "tiny", assignments=["synthetic_train_overrides={'num_distractors': (2, 4), "
                                                                "'speed': 0.03}"])
    assert settings.synthetic_train_overrides == {"num_distractors": (2, 4), "speed": 0.03}
    with pytest.raises(ConfigError, match="inclusive range"):
        build_settings("siamrpnpp", "tiny", assignments=["synthetic_train_overrides={'num_distractors': (5, 2)}"])
