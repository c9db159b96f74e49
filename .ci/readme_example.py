"""Run one README example as written, offline: ``python .ci/readme_example.py MARKER [--expect TEXT]...``.

The example is the first ```python block after ``<!-- MARKER: executed by ... -->`` in README.md, so CI runs
exactly what the README shows. It runs in the current directory with every non-loopback connection refused
(DNS lookups included): an install that needs the network to run its quickstart fails here. Standard library
only: it runs in the fresh venvs of ``.ci/installs``. Exit 0 when the example ran and printed every ``--expect``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}


def example(marker: str, readme: Path = README) -> str:
    """The python block after ``<!-- marker: executed by ... -->`` (exactly one such marker must exist)."""
    text = readme.read_text(encoding="utf-8")
    found = [m.end() for m in re.finditer(rf"<!-- {re.escape(marker)}: executed by [^>]*-->", text)]
    if len(found) != 1:
        raise SystemExit(f"{readme.name}: expected one '<!-- {marker}: executed by ... -->' marker, found {len(found)}")
    block = re.compile(r"```python\n(.*?)```", re.S).search(text, found[0])
    if block is None:
        raise SystemExit(f"{readme.name}: no ```python block after the {marker!r} marker")
    return block.group(1)


class NetworkRefused(OSError):
    """Raised for any connection or lookup to a host other than this machine."""


def refuse_network() -> None:
    """Refuse every connection (and name lookup) that is not to the loopback interface or a Unix socket."""
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def host_of(address: Any) -> str | None:
        return str(address[0]) if isinstance(address, tuple) and address else None

    def check(host: str | None) -> None:
        if host is not None and host not in LOCAL:
            raise NetworkRefused(f"network access refused by .ci/readme_example.py: {host}")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family != getattr(socket, "AF_UNIX", None):
            check(host_of(address))
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if self.family != getattr(socket, "AF_UNIX", None):
            check(host_of(address))
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        check(host.decode() if isinstance(host, bytes) else None if host is None else str(host))
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("marker", help="quickstart, langchain-quickstart, llamaindex-quickstart, ...")
    parser.add_argument("--expect", action="append", default=[], help="text the example must print")
    parser.add_argument("--print", action="store_true", help="print the example instead of running it")
    parser.add_argument("--readme", type=Path, default=README, help="the markdown file (default: README.md)")
    args = parser.parse_args(argv)
    code = example(args.marker, args.readme)
    if args.print:
        sys.stdout.write(code)
        return 0
    refuse_network()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md[{args.marker}]", "exec"), {"__name__": "__main__"})
    except BaseException:  # noqa: BLE001 - report whatever the example raised, then fail
        sys.stdout.write(out.getvalue())
        traceback.print_exc()
        return 1
    sys.stdout.write(out.getvalue())
    missing = [text for text in args.expect if text not in out.getvalue()]
    if missing:
        print(f"README example {args.marker!r} did not print: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
