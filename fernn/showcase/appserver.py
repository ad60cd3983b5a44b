"""Start the demo app (``streamlit run app.py``) on a free local port and wait until it answers.

Used by the browser tests (``tests/test_browser.py``) and ``scripts/wire_bytes.py``; a port is also
what the two-process training test needs (:func:`free_port`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

__all__ = ["free_port", "start_app", "stop_app"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(root: Path, log: IO, *, env: Mapping[str, str] | None = None,
              timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """``streamlit run root/app.py`` headless on a free port, its output into ``log``; returns the
    process and its URL once ``/_stcore/health`` answers. Raises ``RuntimeError`` if streamlit exits
    first and ``TimeoutError`` (after stopping it) if it does not answer within ``timeout`` seconds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(root / "app.py"), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.fileWatcherType", "none"],
        cwd=root, env=None if env is None else dict(env), stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop_app(process)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout:.0f} s; see {log.name}")


def stop_app(process: subprocess.Popen) -> None:
    """Stop a server :func:`start_app` started: terminate, and kill it if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
