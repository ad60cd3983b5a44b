"""What the machine is and what else runs on it: recorded with every result, because timings
taken on another machine or next to other jobs are not comparable."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch


def machine_facts() -> dict:
    """The CPU, its logical core count, torch and its threads, Python, oneDNN and the GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def busy_processes() -> list[str]:
    """Other processes that look like fernn training runs (they distort timings)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "fernn.train" in command and "bash -c" not in command:
            found.append(command)
    return found


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the platform has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def native_bf16() -> bool | None:
    """Whether the CPU advertises bf16 arithmetic (Linux flags; None where unknown)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))

