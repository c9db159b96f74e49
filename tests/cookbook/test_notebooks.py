"""The cookbook notebooks: committed clean, each with a real-model snippet that never runs, and each executed
top to bottom offline in a fresh kernel (nbclient).

The kernel is a separate process, so pytest-socket does not reach it: it gets the same rule (connections to the
loopback interface only) through ``IPKernelApp.exec_lines`` before the first cell runs.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"

# What each notebook must print: the facts it demonstrates, then its closing line.
EXPECTED: dict[str, list[str]] = {
    "01_langchain_chain_quickstart.ipynb": [
        "assistant: Nice to meet you, Ann!",
        "- [goal 0.80] Wants to run a marathon next year",
        "--- system ---\nYou are a helpful assistant.\n<user_context>",
        "- Allergic to peanuts",
        "['system', 'human', 'ai', 'human']",
        "'You are a helpful assistant.\\n'",
        "cookbook 01 done",
    ],
    "02_langchain_agent_middleware.ipynb": [
        "model calls: 3",
        "You are a dining assistant. Be brief.\n\n<user_context>",
        "ask_about_user answered:\n<user_context>",
        "['human', 'ai', 'tool', 'ai', 'tool', 'ai']",
        "('preference', 'Loves tapas',",
        "cookbook 02 done",
    ],
    "03_llamaindex_chat_engine.ipynb": [
        "assistant: How about grilled chicken with rice?",
        "--- system ---\nYou are a cooking assistant.\n--- system ---\n<user_context>",
        "--- reply ---\nHow about a mushroom risotto? It is vegetarian.",
        "- Wants to learn to bake bread this year",
        "['monday', 'thursday', 'weekend']",
        "cookbook 03 done",
    ],
    "04_inspect_correct_export_forget.ipynb": [
        "2025-03-03: 4 LLM calls, 8 added, 2 reinforced, 2 superseded so far",
        "-> changed their mind: Feels settled at the new job",
        "-> changed their mind: Is training for a full marathon in October",
        "Is allergic to peanuts\n    because on 2025-01-06 Ann said: \"Hi, I'm Ann.",
        "reinforced: Is allergic to peanuts, seen 2x",
        "'insights': 9, 'messages': 9}",
        "ann after forget: {'user_id': 'ann', 'card': 0, 'summary': '', 'insights': 0, 'messages': 0}",
        "bob: ['Is training for a triathlon']",
        "cookbook 04 done",
    ],
    "05_shared_model_langchain_llamaindex.ipynb": [
        "--- system ---\n<user_context>",
        "- Allergic to peanuts",
        "- Wants to learn Japanese this year",
        "mobile  user      By the way, I want to learn Japanese this year.",
        "cookbook 05 done",
    ],
    "06_server_mode.ipynb": [
        "chroma server up on 127.0.0.1:",
        "the worker sees: ['Name: Ann', 'Is vegetarian', 'Lives in Porto']",
        "preference  0.80     1  ",
        "Loves sailing on weekends",
        "['mobile', 'web']",
        "chroma server stopped (exit code",
        "cookbook 06 done",
    ],
}

# A real model in a snippet: it must appear in a markdown cell only, so executing the notebook never calls it.
REAL_MODEL = re.compile(r"\b(?:ChatOpenAI|OpenAI|OpenAIEmbeddings?)\(")

# Run in the kernel before the first cell: the notebooks may only connect to the loopback interface.
KERNEL_NETWORK_GUARD = [
    "import pytest_socket",
    "pytest_socket.socket_allow_hosts(['127.0.0.1', '::1', 'localhost'], allow_unix_socket=True)",
]

SERVER_PID = re.compile(r"chroma server pid: (\d+)")


def _read(name: str) -> NotebookNode:
    return nbformat.read(COOKBOOK / name, as_version=4)


def _outputs_text(nb: NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in {"execute_result", "display_data"}:
                parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _execute(nb: NotebookNode, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every cell in a fresh ``python3`` kernel whose cwd, temp dir and Personal home are under ``workdir``."""
    (workdir / "tmp").mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(workdir / "runtime"))  # the kernel's connection file
    env = {
        **os.environ,
        "PERSONAL_HOME": str(workdir / "personal-home"),
        "MPLBACKEND": "Agg",
        "ANONYMIZED_TELEMETRY": "False",
        "TMPDIR": str(workdir / "tmp"),  # the notebooks' tempfile.mkdtemp() stores land here
        "IPYTHONDIR": str(workdir / "ipython"),
        "HF_HUB_OFFLINE": "1",
    }
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        extra_arguments=[f"--IPKernelApp.exec_lines={KERNEL_NETWORK_GUARD!r}"],
    )
    client.execute(env=env)


def _stop_leftover_server(nb: NotebookNode) -> int | None:
    """The pid of a chroma server the notebook started that is still running (then stopped here), else None."""
    match = SERVER_PID.search(_outputs_text(nb))
    if match is None:
        return None
    pid = int(match.group(1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    os.kill(pid, signal.SIGKILL)
    return pid


def test_the_cookbook_holds_the_six_notebooks() -> None:
    assert sorted(p.name for p in COOKBOOK.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_committed_clean_with_a_real_model_snippet(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "a title and an intro first"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code), "clear the outputs"
    snippets = [
        cell
        for cell in nb.cells
        if cell.cell_type == "markdown" and "```python" in cell.source and REAL_MODEL.search(cell.source)
    ]
    assert len(snippets) == 1, "one markdown cell shows how to plug in a real model"
    assert not [cell.source for cell in code if REAL_MODEL.search(cell.source)], "real models never run"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_offline(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _read(name)
    try:
        _execute(nb, tmp_path, monkeypatch)  # raises CellExecutionError (with the traceback) if a cell fails
    finally:
        leftover = _stop_leftover_server(nb)
    assert leftover is None, f"the notebook left its chroma server (pid {leftover}) running"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    text = _outputs_text(nb)
    missing = [expected for expected in EXPECTED[name] if expected not in text]
    assert not missing, f"missing from the outputs: {missing}\n--- outputs ---\n{text[-4000:]}"
    if name.startswith("04_"):
        images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1 and len(images[0].data["image/png"]) > 10_000, "the plot of the user model"


@pytest.mark.slow
def test_the_kernel_cannot_reach_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard the notebooks run under: a connection outside the loopback interface is refused."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import socket\n"
                "s = socket.socket()\n"
                "try:\n"
                "    s.connect(('192.0.2.1', 80))  # TEST-NET-1: never routed\n"
                "except Exception as exc:\n"
                "    print('refused:', type(exc).__name__)\n"
                "finally:\n"
                "    s.close()\n"
            )
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    _execute(nb, tmp_path, monkeypatch)
    assert "refused: SocketConnectBlockedError\n" in _outputs_text(nb)
