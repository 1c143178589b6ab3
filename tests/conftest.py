"""Shared test setup: small thread counts and fixed seeds so the suite is reproducible on 2 cores."""
import os
import random

import numpy as np
import pytest
import torch

torch.set_num_threads(int(os.environ.get("SLT_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
