"""Run documentation examples (and other scripts a test runs in another process) as written, each in a child
process of its own, forked from one runner process that imported the heavy packages once (a fresh interpreter per
script spent most of its seconds importing chromadb, LangChain and LlamaIndex).

Each child starts from the runner's state after imports only: it runs the example's code as ``__main__`` in its
own working directory and environment, and ends like an interpreter does (waits for non-daemon threads, runs
``atexit`` handlers), with its exit code (1 and a traceback on stderr if the example raised).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PRELOAD = (
    "chromadb",
    "personal_core",
    "langchain_core",
    "langchain_personal",
    "llama_index.core",
    "llamaindex_personal",
)

RUNNER = r"""
import importlib, json, os, sys

def threads():
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1

import numpy  # noqa: F401 - its BLAS pool starts at import: fork-safe, and the only thread besides this one
start = threads()
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
from personal_core import default_counter
default_counter()  # tiktoken's BPE file, loaded by the first token count
assert threads() == start, "importing started a thread: forking would copy it half-done"
print("READY", flush=True)

for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.chdir(job["cwd"])
            os.environ.update(job["env"])
            sys.argv = ["-c", *job["args"]]
            exec(compile(job["code"], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        try:  # end as an interpreter does: wait for non-daemon threads, then the atexit handlers
            import atexit, threading
            threading._shutdown()
            atexit._run_exitfuncs()
        except BaseException:
            import traceback
            traceback.print_exc()
            code = code or 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


@dataclass
class Ran:
    """What an example printed and how it ended (the fields of ``subprocess.CompletedProcess`` the tests use)."""

    returncode: int
    stdout: str
    stderr: str


class ExampleRunner:
    """The runner process; :meth:`run` runs one example in a fresh child of it."""

    def __init__(self, output_dir: Path) -> None:
        self._dir = output_dir
        self._count = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, *PRELOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        assert self._line() == "READY", f"the example runner did not start (exit code {self.proc.poll()})"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the example runner died (exit code {self.proc.poll()})"
        return line.strip()

    def run(self, code: str, cwd: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Ran:
        """Run ``code`` as ``python -c code *args`` would, in ``cwd``, with ``env`` added to the environment."""
        self._count += 1
        out, err = self._dir / f"example-{self._count}.out", self._dir / f"example-{self._count}.err"
        job = {
            "code": code,
            "args": list(args),
            "cwd": str(cwd),
            "env": env or {},
            "stdout": str(out),
            "stderr": str(err),
        }
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        returncode = int(json.loads(self._line())["code"])
        return Ran(returncode, out.read_text(errors="replace"), err.read_text(errors="replace"))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_module(module: str) -> str:
    """Code that runs ``module`` as ``python -m module`` does (give its arguments as ``args``)."""
    return (
        f"import runpy, sys\nsys.argv[0] = {module!r}\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
