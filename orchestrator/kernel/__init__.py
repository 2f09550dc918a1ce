"""Talking to the kernel: the external programs (bpftool, clang), bpffs, one
snapshot of a loaded instance, bpftool's JSON into typed records."""
