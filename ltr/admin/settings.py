"""The settings object handed to a train setting's ``run(settings)`` (pytracking style)."""
from __future__ import annotations

from typing import Any, Dict

from ltr.admin.environment import EnvSettings, env_settings


class Settings:
    """Plain attribute bag; train settings add their own fields.

    Set by run_training: ``env`` (paths), ``module_name``, ``script_name``, ``project_path``
    (``<module>/<script>``, the checkpoint sub-folder), ``checkpoint`` (optional start weights),
    ``resume`` (bool), ``seed``, ``device``, and the distributed fields ``rank``/``world_size``.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.env: EnvSettings = env_settings()
        self.module_name = ""
        self.script_name = ""
        self.project_path = ""
        self.checkpoint = None
        self.resume = True
        self.seed = 0
        self.device = "cpu"
        self.rank = 0
        self.world_size = 1
        for key, value in kwargs.items():
            setattr(self, key, value)

    def as_dict(self) -> Dict[str, Any]:
        """Plain-data view for checkpoints and logs."""
        from ltr.admin.checkpoint import to_plain
        return to_plain(self)
