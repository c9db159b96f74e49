"""Start and stop a real `chroma run` server on 127.0.0.1 for tests (the binary ships in the chromadb wheel)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_chroma(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A server on ``data`` (its output in ``log``), up and answering its heartbeat; fails the test otherwise."""
    chroma = Path(sys.executable).with_name("chroma")
    command = [str(chroma)] if chroma.exists() else [sys.executable, "-m", "chromadb.cli.cli"]
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as response:
                if response.status == 200:
                    return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma server did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
