"""Where scores are computed: the numeric environment of a score and of a run.

Float results are bitwise reproducible only on the same kind of machine: oneDNN and ATen choose
CPU kernels by instruction set (AVX2, AVX-512, AMX...), so another CPU sums in another order and
changes the last bits (measured: up to 1e-4 relative for ``grasp``, whose Hessian-gradient
product cancels heavily). :class:`NumericEnvironment` names the device model, the kernel
capability, a digest of the CPU feature flags and the torch version; every score records it.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True, order=True)
class NumericEnvironment:
    """The numeric environment of a score (equal environments give equal bits).

    Attributes:
        device_type: ``"cpu"`` or ``"cuda"``.
        device_name: CPU model or GPU name.
        capability: ATen's CPU kernel capability (``"AVX2"``, ``"AVX512"``); empty on CUDA.
        flags_digest: 10 hex digits of the SHA-256 of the sorted CPU feature flags (CPU only).
        torch: the torch version.
    """

    device_type: str
    device_name: str
    capability: str
    flags_digest: str
    torch: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericEnvironment:
        return cls(**{k: str(d[k]) for k in ("device_type", "device_name", "capability",
                                              "flags_digest", "torch")})

    @classmethod
    def from_legacy_key(cls, key: str) -> NumericEnvironment:
        """Read the formatted string of results schema 1 and of older checkpoints
        (``cpu:NAME:CAP:flags DIGEST:torch V`` or ``cuda:NAME:torch V``). Used only to read
        old files; new files store the structure."""
        parts = key.split(":")
        torch_v = parts[-1].removeprefix("torch ").strip()
        if parts[0] == "cuda":
            return cls("cuda", ":".join(parts[1:-1]), "", "", torch_v)
        flags = parts[-2].removeprefix("flags ").strip()
        return cls("cpu", ":".join(parts[1:-3]), parts[-3], flags, torch_v)

    def describe(self) -> str:
        """For people: ``AMD EPYC (AVX2, torch 2.13.0+cpu)``."""
        inner = ", ".join(x for x in (self.capability, f"torch {self.torch}") if x)
        return f"{self.device_name} ({inner})"


def device_name(device: str) -> str:
    """The CPU model (from ``/proc/cpuinfo``) or the CUDA device's name."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=8)
def current_environment(device: str) -> NumericEnvironment:
    """The numeric environment of this process on ``device``."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return NumericEnvironment("cuda", device_name(device), "", "", torch.__version__)
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        pass
    digest = hashlib.sha256(flags.encode()).hexdigest()[:10]
    return NumericEnvironment("cpu", device_name(device),
                              str(torch.backends.cpu.get_cpu_capability()), digest,
                              torch.__version__)


def set_threads(threads: int | None, device: str) -> None:
    """Fix the thread count and the cuDNN switches before scoring (chosen by the harness,
    never by estimators, and recorded in the results)."""
    if threads:
        torch.set_num_threads(threads)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


#: Tracked paths that hold what runs produce, not code: a change there (a campaign's journals
#: while it runs, results, costs, the generated site) does not make the code differ from the
#: commit, so it does not mark a result ``-dirty``.
PRODUCED_PATHS: tuple[str, ...] = ("leaderboard/results", "leaderboard/results-trained",
                                   "leaderboard/costs", "runs", "docs")


def git_commit(root: Path | None = None) -> str:
    """The harness's commit, ``-dirty`` when tracked files other than
    :data:`PRODUCED_PATHS` differ, or ``unknown``."""
    root = root if root is not None else Path(__file__).resolve().parents[2]
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10)
        sha = proc.stdout.strip() if proc.returncode == 0 else ""
        excluded = [f":(exclude){p}" for p in PRODUCED_PATHS]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", *excluded], cwd=root, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return (sha or "unknown") + ("-dirty" if sha and dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
