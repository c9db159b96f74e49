"""The ``personal`` command against a real embedded Chroma store in a temp dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from personal_core import HashingEmbedder, UserModeler
from personal_core.cli import main

GOOD = [
    {"user_id": "ann", "session_id": "s1", "role": "user", "content": "I live in Porto and I'm allergic to peanuts."},
    {"user_id": "ann", "session_id": "s1", "role": "assistant", "content": "Noted, Ann."},
    {"user_id": "ann", "session_id": "s2", "role": "user", "content": "I love hiking.", "id": "ann-hike"},
    {
        "user_id": "bob",
        "session_id": "b1",
        "role": "human",
        "content": "I work as a nurse.",
        "created_at": "2025-01-02",
    },
]


def _write_jsonl(path: Path) -> Path:
    lines = [json.dumps(GOOD[0]), json.dumps(GOOD[1]), '{"user_id": "ann", "role": "user", "content": oops', ""]
    lines += [
        json.dumps(GOOD[2]),
        json.dumps({"user_id": "ann", "role": "user", "content": "   "}),
        json.dumps(GOOD[3]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(store_path: Path) -> Path:
    # Create the store with the offline embedder so the CLI opens it by its pin (no model download).
    UserModeler(store_path, embedder=HashingEmbedder(), shards=4).close()
    return store_path


@pytest.fixture
def imported(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    source = _write_jsonl(tmp_path / "history.jsonl")
    assert main(["--path", str(store), "import", str(source), "--progress", "--chunk", "1"]) == 0
    return store


def test_import_jsonl_reports_bad_lines_and_imports_the_rest(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write_jsonl(tmp_path / "history.jsonl")
    code = main(["--path", str(store), "import", str(source), "--progress", "--chunk", "2"])
    out, err = capsys.readouterr()
    assert code == 0
    # Progress bar on stderr: 4 valid messages in chunks of 2 (ann/s1: 2, ann/s2: 1, bob/b1: 1).
    assert "\r[" + "." * 30 + "]   0% 0/4 messages" in err
    assert "\r[###############...............]  50% 2/4 messages" in err
    assert "\r[" + "#" * 30 + "] 100% 4/4 messages" in err
    assert "Imported 4 messages for 2 users in 3 sessions." in out
    assert "Skipped 2 invalid records:" in out
    assert "line 3: not valid JSON" in out
    assert "line 6: content: Value error, message content must not be blank" in out
    with UserModeler(store) as modeler:
        ann = modeler.messages("ann")
        assert [m.session_id for m in ann] == ["s1", "s1", "s2"]
        assert "ann-hike" in {m.id for m in ann}
        bob = modeler.messages("bob")
        assert [(m.role.value, m.created_at.year) for m in bob] == [("user", 2025)]
        assert "Allergic to peanuts" in modeler.user_model("ann").card


def test_reimport_skips_what_is_stored(imported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    source = _write_jsonl(tmp_path / "again.jsonl")
    assert main(["--path", str(imported), "import", str(source)]) == 0
    out, err = capsys.readouterr()
    assert "Imported 0 messages for 2 users in 3 sessions (4 already stored)." in out
    assert "messages" not in err  # no progress bar without --progress when stderr is not a terminal
    with UserModeler(imported) as modeler:
        assert len(modeler.messages("ann")) == 3


def test_import_json_conversations_and_default_user(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "convs.json"
    convs = [
        {"session_id": "c1", "messages": [{"role": "user", "content": "I'm vegetarian."}, {"role": "bot"}]},
        {"user_id": "dan", "session_id": "c2", "messages": [{"role": "user", "content": "I love chess."}]},
        "not an object",
    ]
    source.write_text(json.dumps(convs, indent=2), encoding="utf-8")
    assert main(["--path", str(store), "import", str(source), "--user", "cat"]) == 0
    out = capsys.readouterr().out
    assert "Imported 2 messages for 2 users in 2 sessions." in out
    assert "item 1 message 2: content: Field required" in out
    assert "item 3: expected a JSON object, got str" in out
    with UserModeler(store) as modeler:
        assert [m.content for m in modeler.messages("cat", "c1")] == ["I'm vegetarian."]
        assert [m.content for m in modeler.messages("dan")] == ["I love chess."]


def test_show_export_stats_forget(imported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    base = ["--path", str(imported)]

    assert main([*base, "show", "ann"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("User: ann\n")
    assert "  - Lives in Porto\n" in out
    header = next(line for line in out.splitlines() if "KIND" in line)
    assert header.split() == ["KIND", "CONF", "SEEN", "SINCE", "TEXT"]
    row = next(line for line in out.splitlines() if line.rstrip().endswith("Loves hiking"))
    assert row.split()[:3] == ["preference", "0.80", "1"]

    target = tmp_path / "ann.json"
    assert main([*base, "export", "ann", "--out", str(target)]) == 0
    assert f"to {target}" in capsys.readouterr().out
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["user_id"] == "ann"
    assert {"Loves hiking", "Allergic to peanuts", "Lives in Porto"} <= {i["text"] for i in data["insights"]}
    assert len(data["messages"]) == 3

    assert main([*base, "stats", "ann"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Stats for ann\nNAME ")
    rows = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert rows["messages_observed"].strip() == "3"
    assert rows["insights_by_kind.preference"].strip() == "1"
    assert rows["reasoner"].strip() == "heuristic"

    assert main([*base, "stats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Stats for all users\n")
    everyone = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert everyone["messages_observed"].strip() == "4"

    assert main([*base, "forget", "ann", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Forgot ann: removed" in out and "3 messages" in out
    assert main([*base, "export", "ann"]) == 0
    empty = json.loads(capsys.readouterr().out)
    assert empty == {"user_id": "ann", "card": [], "summary": "", "insights": [], "messages": []}
    assert main([*base, "show", "ann"]) == 0
    assert "Nothing is stored about this user." in capsys.readouterr().out


def test_forget_declined_keeps_the_user(
    imported: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("builtins.input", lambda: "n")
    assert main(["--path", str(imported), "forget", "ann"]) == 1
    assert "nothing was removed" in capsys.readouterr().err
    with UserModeler(imported) as modeler:
        assert len(modeler.messages("ann")) == 3


def test_bad_user_id_exits_2_with_one_line(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--path", str(store), "show", "   "]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "personal: error: user_id must be a non-empty, non-blank string\n"


def test_errors_have_no_traceback_in_the_console_script(store: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "personal_core.cli", "--path", str(store), "import", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"personal: error: cannot read {missing}")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_locked_store_exits_2(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with UserModeler(store):
        assert main(["--path", str(store), "stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("personal: error: the store at") and len(err.strip().splitlines()) == 1


def test_bad_server_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", "nohost", "stats"]) == 2
    assert "--server must be HOST:PORT" in capsys.readouterr().err


def test_server_mode(chroma_server: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host, port = chroma_server
    server = f"{host}:{port}"
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps({"user_id": "srv-eve", "role": "user", "content": "I love jazz."}) + "\n")
    # A server store starts without a pin: create it with the offline embedder first.
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))
    UserModeler(client=client, embedder=HashingEmbedder(), namespace="personal").close()
    assert main(["--server", server, "import", str(source)]) == 0
    assert "Imported 1 messages for 1 users in 1 sessions." in capsys.readouterr().out
    assert main(["--server", server, "show", "srv-eve"]) == 0
    assert "Loves jazz" in capsys.readouterr().out
    assert main(["--server", server, "forget", "srv-eve", "--yes"]) == 0


def test_forget_with_a_relative_store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As README shows it: `personal --path ./personal-store forget USER --yes` (the scrub resolves the path)."""
    monkeypatch.chdir(tmp_path)
    with UserModeler("./personal-store", embedder=HashingEmbedder()) as m:
        m.observe("ann", [{"role": "user", "content": "I love zorblaxfruit."}])
    assert main(["--path", "./personal-store", "forget", "ann", "--yes"]) == 0
    with UserModeler("./personal-store", embedder=HashingEmbedder()) as m:
        assert m.export("ann")["messages"] == []
