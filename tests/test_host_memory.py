"""ltr.admin.host_memory: the entry points' malloc setting, with its opt-out."""
import subprocess
import sys

import pytest

from ltr.admin.host_memory import ENV_VAR, keep_freed_host_memory, on_glibc_linux

_PROBE = """
import resource, torch
torch.set_num_threads(1)
from ltr.admin.host_memory import keep_freed_host_memory
applied = keep_freed_host_memory()
net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.GroupNorm(4, 16), torch.nn.ReLU(),
                          torch.nn.Conv2d(16, 16, 3, stride=2, padding=1), torch.nn.ReLU())
x = torch.rand(8, 3, 96, 96)  # activations of about 4 MiB, as in a batched tiny-tracker step
with torch.no_grad():
    for _ in range(3):  # warm up: the first blocks always come fresh
        net(x * 2.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        net(x * 2.0)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(env_value):
    import os
    env = dict(os.environ)
    env[ENV_VAR] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not on_glibc_linux(), reason="the setting tunes glibc's malloc; with another C library "
                                                  "keep_freed_host_memory() changes nothing, so there is nothing to measure")
def test_freed_tensor_memory_is_reused_without_page_faults():
    applied, faults = _probe("1")
    opted_out, faults_default = _probe("0")
    assert applied and not opted_out
    # glibc's defaults fault on tens of thousands of fresh pages here (60-80k measured); kept memory
    # is reused (about 1-2k faults left)
    assert faults * 10 < faults_default


def test_opt_out_is_honoured(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "off")
    assert keep_freed_host_memory() is False
