"""ltr.admin.host_memory: the entry points' malloc setting, with its opt-out."""
import platform
import subprocess
import sys

import pytest

from ltr.admin.host_memory import ENV_VAR, keep_freed_host_memory

_PROBE = """
import resource, sys, torch
from ltr.admin.host_memory import keep_freed_host_memory
applied = keep_freed_host_memory()
x = torch.ones(1 << 20)  # 4 MiB, above glibc's default mmap threshold
for _ in range(3):  # warm up: the first blocks always come fresh
    y = x * 2.0
    del y
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    y = x * 2.0
    del y
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(env_value):
    import os
    env = dict(os.environ)
    env[ENV_VAR] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_tensor_memory_is_reused_without_page_faults():
    applied, faults = _probe("1")
    assert applied
    assert faults < 100  # 50 fresh 4 MiB tensors would touch 51,200 new pages
    opted_out, faults_default = _probe("0")
    assert not opted_out
    assert faults_default > 10 * max(faults, 1)  # the glibc default really faults: the setting matters


def test_opt_out_is_honoured(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "off")
    assert keep_freed_host_memory() is False
