"""observe() latency at a steady pace, embedded vs server mode, while the background flusher writes to Chroma.

    python -m benchmarks.observe_modes [--users 200] [--calls 1000] [--rate 50]

Embedded mode writes to Chroma inside this process; chromadb holds the GIL while it writes, so each background
flush pauses every thread briefly. Server mode (a real ``chroma run`` on 127.0.0.1, ``HttpClient``) writes in
Chroma's process. Same data, embedder and pace for both; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from personal_core import HashingEmbedder, UserModeler

from ._util import markdown_table, summarise, write_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chroma run did not come up")


def measure(modeler: UserModeler, users: int, calls: int, rate: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    for u in range(users):
        seed_messages = [{"role": "user", "content": f"I love topic{i} and I want to see place{i}."} for i in range(30)]
        modeler.observe(f"u{u}", seed_messages)
    modeler.flush_writes()
    for u in range(users):
        modeler.context(f"u{u}", "warm up")
    seconds: list[float] = []
    period = 1.0 / rate
    for i in range(calls):
        message = [{"role": "user", "content": f"Today I love thing{i} and my cat is fine."}]
        started = time.perf_counter()
        modeler.observe(f"u{rng.randrange(users)}", message)
        elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        time.sleep(max(0.0, period - elapsed))
    return summarise(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="observe calls per second")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="personal-observe-"))
    os.environ["PERSONAL_HOME"] = str(root / "home")  # client journals stay in the temp dir
    results: dict[str, Any] = {}
    try:
        with UserModeler(root / "embedded", embedder=HashingEmbedder()) as modeler:
            results["embedded"] = measure(modeler, args.users, args.calls, args.rate, args.seed)
        import chromadb
        from chromadb.config import Settings

        proc, port = _start_server(root / "server")
        try:
            client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False))
            with UserModeler(client=client, embedder=HashingEmbedder()) as modeler:
                results["server"] = measure(modeler, args.users, args.calls, args.rate, args.seed)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [[mode, r["n"], r["p50_ms"], r["p95_ms"], r["max_ms"]] for mode, r in results.items()]
    print(f"## observe() paced at {args.rate:g}/s over {args.users} users ({args.calls} calls)\n")
    print(markdown_table(["mode", "n", "p50 ms", "p95 ms", "max ms"], rows))
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(args.out, "observe_modes.json", {"benchmark": "observe_modes", "config": config, **results})


if __name__ == "__main__":
    main()
