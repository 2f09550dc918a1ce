"""make soak: conservation under the stress of the currencies issue, for
minutes.  A real instance in its own pin directory, `stress-ng --cpu 2
--switch 2 --fork 2 --pthread 1` in its own session, and two dumps reading the
instance at once; prints the distribution of per-sample conservation error
computed from each CSV alone.  Not a test: nothing here fails on a number."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from orchestrator import paths
from orchestrator.commands import build as build_cmd
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd
from orchestrator.kernel import bpffs
from orchestrator.records import conservation, read

STRESS = ["stress-ng", "--cpu", "2", "--switch", "2", "--fork", "2", "--pthread", "1",
          "--quiet"]


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[round(fraction * (len(sorted_values) - 1))]


def _report(name: str, path: Path) -> str:
    errors = sorted(abs(e) for _, e in conservation(read(path)))
    if not errors:
        return f"{name}: no samples"
    rows = path.read_text().count("\n") - 1
    return (f"{name}: {len(errors)} samples, {rows} rows; |error| median "
            f"{100 * statistics.median(errors):.2f}%, p95 {100 * _percentile(errors, 0.95):.2f}%"
            f", worst {100 * errors[-1]:.2f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the stress runs")
    parser.add_argument("--interval", type=float, default=1.0, help="dump interval, seconds")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (it loads BPF)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="lottery-soak-"))
    build_cmd.build(str(work / "build"))
    bpffs.ensure_mounted()
    pins = paths.pins(f"/sys/fs/bpf/lottery-soak-{uuid.uuid4().hex[:8]}")
    load_cmd.load(pins, obj=str(work / "build" / "sched_lottery.bpf.o"))
    stress = readers = None
    try:
        stress = subprocess.Popen([*STRESS, "--timeout", str(int(args.seconds) + 30)],
                                  start_new_session=True)
        time.sleep(2.0)
        outs = [work / "fast.csv", work / "slow.csv"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        readers = [subprocess.Popen([sys.executable, "-m", "orchestrator", "dump", "-q", "-i",
                                     str(interval), "-o", str(out), "--pin-dir", str(pins.dir)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                   for interval, out in zip((args.interval, 2.5 * args.interval), outs,
                                            strict=True)]
        time.sleep(args.seconds)
        for proc in readers:
            proc.send_signal(signal.SIGINT)
        said = [proc.communicate(timeout=300)[1].decode().splitlines() for proc in readers]
        print(f"stress: {' '.join(STRESS)}, {args.seconds:g} s; two readers at "
              f"{args.interval:g} s and {2.5 * args.interval:g} s")
        for name, out, lines in zip(("fast reader", "slow reader"), outs, said, strict=True):
            warned = [line for line in lines if "warning" in line]
            print(_report(name, out) + f"; {len(warned)} warnings")
            for line in dict.fromkeys(w.split(":", 2)[-1].strip()[:90] for w in warned):
                print(f"  {line}")
    finally:
        for proc in readers or ():
            if proc.poll() is None:
                proc.kill()
        if stress is not None:
            os.killpg(stress.pid, signal.SIGKILL)
            stress.wait()
        unload_cmd.unload(pins)
    return 0


if __name__ == "__main__":
    sys.exit(main())
