"""The sampler keeps the memory it frees (orchestrator/heap.py): the next
sample's tables reuse it instead of faulting every page in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator import heap

# Two rounds of what a sample does to memory: many large blocks, written,
# then freed.  The page faults of the second round tell whether the first
# round's memory was kept.
_ROUNDS = """
import resource, sys
from orchestrator import heap
if sys.argv[1] == "keep":
    assert heap.keep_freed_memory()
def sample():
    blocks = [bytearray(1 << 20) for _ in range(48)]
    del blocks
sample()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
sample()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _ROUNDS, mode], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def test_freed_memory_is_reused_without_faulting_it_in_again():
    if not heap.keep_freed_memory():
        pytest.skip("not glibc: the allocator is left as it is")
    default, kept = _faults("default"), _faults("keep")
    # 48 MiB is 12,288 pages: all faulted in again by default, hardly any kept
    assert default > 10_000, default
    assert kept < default / 10, (kept, default)
