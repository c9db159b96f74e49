"""The install checks' example runner (.ci/readme_example.py): it finds README's marked examples, runs them as
written, and refuses the network. The installs themselves run in CI (.ci/installs), not here."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / ".ci" / "readme_example.py"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_example", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("marker", "imports"),
    [
        ("quickstart", "from personal_core import UserModeler"),
        ("langchain-quickstart", "from langchain_personal import PersonalMemory"),
        ("llamaindex-quickstart", "from llamaindex_personal import PersonalChatMemoryBuffer"),
    ],
)
def test_each_install_has_its_marked_readme_example(marker: str, imports: str) -> None:
    code = _runner().example(marker)
    assert imports in code
    compile(code, marker, "exec")


def _run(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n<!-- demo: executed by nothing -->\n```python\n{body}\n```\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(RUNNER), "demo", "--readme", str(readme), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_runner_refuses_the_network(tmp_path: Path) -> None:
    body = "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)"  # TEST-NET: never routed
    result = _run(tmp_path, body)
    assert result.returncode == 1
    assert "network access refused by .ci/readme_example.py: 192.0.2.1" in result.stderr
    lookup = _run(tmp_path, "import socket\nsocket.getaddrinfo('pypi.org', 443)")
    assert lookup.returncode == 1 and "refused by .ci/readme_example.py: pypi.org" in lookup.stderr


def test_the_runner_checks_what_the_example_prints(tmp_path: Path) -> None:
    assert _run(tmp_path, "print('<user_context>')", "--expect", "<user_context>").returncode == 0
    missing = _run(tmp_path, "print('nothing')", "--expect", "<user_context>")
    assert missing.returncode == 1 and "did not print: ['<user_context>']" in missing.stderr
    assert _run(tmp_path, "raise SystemExit(3)").returncode == 1


def test_a_missing_or_duplicated_marker_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("<!-- a: executed by x -->\n```python\n1\n```\n<!-- a: executed by y -->\n", encoding="utf-8")
    runner = _runner()
    with pytest.raises(SystemExit, match=re.escape("expected one '<!-- a: executed by ... -->' marker, found 2")):
        runner.example("a", readme)
    with pytest.raises(SystemExit, match="found 0"):
        runner.example("b", readme)
