"""lottery build: vmlinux.h from the kernel's BTF, then the BPF object."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from pathlib import Path

from orchestrator import files, paths
from orchestrator.constants import BPF_HEADER, BPF_OBJECT, BPF_SOURCE, EXIT_OK
from orchestrator.errors import LotteryError
from orchestrator.kernel import tools

# uname -m -> the __TARGET_ARCH_* name libbpf's bpf_tracing.h expects
_ARCH = {"x86_64": "x86", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "powerpc",
         "s390x": "s390", "riscv64": "riscv", "loongarch64": "loongarch"}


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def _stamp(out: Path) -> Path:
    return out.with_name(out.name + ".inputs")


def _up_to_date(out: Path, inputs: dict[str, str]) -> bool:
    """True when `out` was made from exactly `inputs` (contents, not times:
    a kernel's BTF keeps its time across upgrades, a copied file its own)
    and has not changed since."""
    try:
        made_from = json.loads(_stamp(out).read_text())
        return made_from == {**inputs, "output": _digest(out)}
    except (OSError, ValueError):
        return False


def _made(tmp: Path, out: Path, inputs: dict[str, str]) -> None:
    """Put the new output in place, then the stamp of what it was made from;
    both atomic, so a failed build never leaves half a file, nor a stamp
    that vouches for another output."""
    with contextlib.suppress(FileNotFoundError):
        _stamp(out).unlink()
    os.replace(tmp, out)
    stamp_tmp = _stamp(out).with_suffix(".tmp")
    stamp_tmp.write_text(json.dumps({**inputs, "output": _digest(out)}, indent=1) + "\n")
    os.replace(stamp_tmp, _stamp(out))


def generate_vmlinux_h(btf: Path, out: Path, force: bool = False) -> bool:
    """Write vmlinux.h from BTF unless it is up to date; True when written."""
    if not btf.exists() or not os.access(btf, os.R_OK):
        raise LotteryError(f"kernel BTF {btf} is missing or unreadable",
                           "use a kernel built with CONFIG_DEBUG_INFO_BTF=y, or set BTF_PATH")
    bpftool = tools.require("bpftool")
    inputs = {"btf": str(btf.resolve()), "btf_sha256": _digest(btf),
              "bpftool": tools.run([bpftool, "version"], what="bpftool version").split("\n")[0]}
    if not force and _up_to_date(out, inputs):
        return False
    header = tools.run([bpftool, "btf", "dump", "file", str(btf), "format", "c"],
                       what="bpftool btf dump")
    tmp = out.with_suffix(".h.tmp")
    tmp.write_text(header, encoding="utf-8")
    _made(tmp, out, inputs)
    return True


def compile_object(src_dir: Path, include: Path, out: Path, force: bool = False) -> bool:
    """Compile the BPF program unless the object is up to date; True when built."""
    source = src_dir / BPF_SOURCE
    clang = tools.require("clang")
    arch = _ARCH.get(platform.machine(), platform.machine())
    tmp = out.with_suffix(".o.tmp")
    argv = [clang, "-target", "bpf", "-g", "-O2", f"-D__TARGET_ARCH_{arch}",
            f"-I{include}", f"-I{src_dir}", "-c", str(source), "-o", str(tmp)]
    inputs = {name: _digest(path) for name, path in (
        (BPF_SOURCE, source), (BPF_HEADER, src_dir / BPF_HEADER),
        ("vmlinux.h", include / "vmlinux.h"))}
    inputs |= {"clang": tools.run([clang, "--version"], what="clang").split("\n")[0],
               "argv": " ".join(argv)}
    if not force and _up_to_date(out, inputs):
        return False
    tools.run(argv, what="clang")
    _made(tmp, out, inputs)
    return True


def build(build_dir: str | None = None, btf_path: str | None = None, force: bool = False) -> int:
    """Generate vmlinux.h and compile the object into the build directory."""
    out_dir = paths.build_dir(build_dir)
    btf = paths.btf_path(btf_path)
    # a BTF given from the build directory (the object holds BTF too) would be
    # replaced by what is made from it
    files.distinct([files.Named("--btf", btf)],
                   [files.Named("--build-dir", out_dir / "vmlinux.h"),
                    files.Named("--build-dir", out_dir / BPF_OBJECT)])
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LotteryError(f"cannot create build directory {out_dir} ({err.strerror})",
                           "run from a writable directory or set LOTTERY_BUILD_DIR") from None
    header = out_dir / "vmlinux.h"
    wrote = generate_vmlinux_h(btf, header, force)
    print(f"{'generated' if wrote else 'up to date'}: {header}")
    built = compile_object(paths.bpf_sources(), out_dir, out_dir / BPF_OBJECT, force=force)
    print(f"{'compiled' if built else 'up to date'}: {out_dir / BPF_OBJECT}")
    return EXIT_OK
