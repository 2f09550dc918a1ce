"""lottery build: vmlinux.h from the kernel's BTF, then the BPF object."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from orchestrator import paths
from orchestrator.constants import BPF_HEADER, BPF_OBJECT, BPF_SOURCE, EXIT_OK
from orchestrator.errors import LotteryError
from orchestrator.kernel import tools

# uname -m -> the __TARGET_ARCH_* name libbpf's bpf_tracing.h expects
_ARCH = {"x86_64": "x86", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "powerpc",
         "s390x": "s390", "riscv64": "riscv", "loongarch64": "loongarch"}


def _newer(target: Path, *sources: Path) -> bool:
    """True when target exists and is at least as new as every source."""
    if not target.exists():
        return False
    mtime = target.stat().st_mtime
    return all(src.stat().st_mtime <= mtime for src in sources)


def _replace(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)  # atomic: a failed build never leaves half a file


def generate_vmlinux_h(btf: Path, out: Path) -> bool:
    """Write vmlinux.h from BTF unless it is up to date; True when written."""
    if not btf.exists() or not os.access(btf, os.R_OK):
        raise LotteryError(f"kernel BTF {btf} is missing or unreadable",
                           "use a kernel built with CONFIG_DEBUG_INFO_BTF=y, or set BTF_PATH")
    if _newer(out, btf):
        return False
    header = tools.run([tools.require("bpftool"), "btf", "dump", "file", str(btf), "format", "c"],
                       what="bpftool btf dump")
    tmp = out.with_suffix(".h.tmp")
    tmp.write_text(header, encoding="utf-8")
    _replace(tmp, out)
    return True


def compile_object(src_dir: Path, include: Path, out: Path, force: bool = False) -> bool:
    """Compile the BPF program unless the object is up to date; True when built."""
    source = src_dir / BPF_SOURCE
    if not force and _newer(out, source, src_dir / BPF_HEADER, include / "vmlinux.h"):
        return False
    clang = tools.require("clang")
    arch = _ARCH.get(platform.machine(), platform.machine())
    tmp = out.with_suffix(".o.tmp")
    tools.run([clang, "-target", "bpf", "-g", "-O2", f"-D__TARGET_ARCH_{arch}",
               f"-I{include}", f"-I{src_dir}", "-c", str(source), "-o", str(tmp)],
              what="clang")
    _replace(tmp, out)
    return True


def build(build_dir: str | None = None, btf_path: str | None = None, force: bool = False) -> int:
    """Generate vmlinux.h and compile the object into the build directory."""
    out_dir = paths.build_dir(build_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LotteryError(f"cannot create build directory {out_dir} ({err.strerror})",
                           "run from a writable directory or set LOTTERY_BUILD_DIR") from None
    header = out_dir / "vmlinux.h"
    if force and header.exists():
        header.unlink()
    wrote = generate_vmlinux_h(paths.btf_path(btf_path), header)
    print(f"{'generated' if wrote else 'up to date'}: {header}")
    built = compile_object(paths.bpf_sources(), out_dir, out_dir / BPF_OBJECT, force=force)
    print(f"{'compiled' if built else 'up to date'}: {out_dir / BPF_OBJECT}")
    return EXIT_OK
