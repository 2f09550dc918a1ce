"""lottery: per-task Linux scheduler statistics from eBPF, read through bpftool."""

__version__ = "0.1.0"
