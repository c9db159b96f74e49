"""Two OS processes write through one `chroma run` server at the same time; a third process loses nothing.

Embedded mode refuses a second process (``tests/core/test_store_lock.py``); through a server both writers hold
the same store open at once (a barrier makes them start writing together). Each writer observes messages and
adds insights for two users both of them write to and one of its own; its background flusher (every 20 ms)
moves its journal to the server while the other process writes (every 5 rounds a writer waits until its
flusher has drained the journal, so both processes' writes reach the server interleaved, not only at close).
Then a third process, with its own ``$PERSONAL_HOME`` (so it cannot replay the writers' journals: everything
it sees came through the server), reads every user: every message id and every insight (derived by the
heuristic, or added by hand) is there, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from personal_core import HashingEmbedder, UserModeler

ROUNDS = 20  # per user and writer: 3 users x 20 = 60 messages and 60 + 30 insights per writer
SHARED = ["shared-a", "shared-b"]

WRITER = """
import json, sys, time
from personal_core import HashingEmbedder, UserModeler
from personal_core.store import http_client

host, port, namespace, name, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
users = json.loads(sys.argv[6]) + [f"own-{name}"]
m = UserModeler(client=http_client(host, port), embedder=HashingEmbedder(), namespace=namespace, shards=4,
                flush_interval=0.02)
print("READY", flush=True)
assert sys.stdin.readline().strip() == "GO"
written = {u: {"messages": [], "derived": [], "added": []} for u in users}
drained = 0
for i in range(rounds):
    for u in users:
        mid = f"{name}-{u}-m{i}"
        m.observe(u, [{"id": mid, "role": "user", "content": f"Note {i} from {name}: I love {name}tea{i}x."}],
                  session_id=name)
        written[u]["messages"].append(mid)
        written[u]["derived"].append(f"Loves {name}tea{i}x")
        if i % 2 == 0:
            added = m.add_insight(u, f"Fact {i} noted by {name}", "fact", evidence=[mid])
            written[u]["added"].append(added.id)
    if i % 5 == 4:  # let the background flusher (not this thread) move the journal while the other process writes
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        while m.stats()["journal_pending"] and time.monotonic() < deadline:
            time.sleep(0.005)
        drained += m.stats()["journal_pending"] == 0
pending = m.stats()["journal_pending"]
m.close()
print("WRITTEN " + json.dumps({"written": written, "drained": drained, "pending_at_close": pending}), flush=True)
"""

READER = """
import json, sys
from personal_core import UserModeler
from personal_core.store import http_client

host, port, namespace = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with UserModeler(client=http_client(host, port), namespace=namespace) as m:  # embedder from the store's pin
    seen = {}
    for u in json.loads(sys.argv[4]):
        seen[u] = {
            "messages": [x.id for x in m.messages(u)],
            "insights": [{"id": i.id, "text": i.text, "evidence": i.evidence} for i in m.user_model(u).insights],
        }
    print("SEEN " + json.dumps(seen), flush=True)
"""


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "PERSONAL_HOME": str(home), "ANONYMIZED_TELEMETRY": "False"}


def _tagged(output: str, tag: str) -> Any:
    line = next(x for x in output.splitlines() if x.startswith(tag + " "))
    return json.loads(line[len(tag) + 1 :])


def test_two_writer_processes_through_one_server_lose_nothing(
    chroma_server: tuple[str, int], tmp_path: Path, capsys: Any
) -> None:
    host, port = chroma_server
    namespace = "two-" + uuid.uuid4().hex[:10]
    names = ["w1", "w2"]
    writers = {
        name: subprocess.Popen(
            [sys.executable, "-c", WRITER, host, str(port), namespace, name, str(ROUNDS), json.dumps(SHARED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path / f"home-{name}"),
        )
        for name in names
    }
    try:
        for name, proc in writers.items():  # both have the store open before either writes
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            assert ready.strip() == "READY", (
                f"{name} did not open the store: {ready!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        for proc in writers.values():
            assert proc.stdin is not None
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        results = {}
        for name, proc in writers.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{name} failed: {err[-3000:]}"
            results[name] = _tagged(out, "WRITTEN")
    finally:
        for proc in writers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    for name in names:
        assert results[name]["drained"] == ROUNDS // 5, f"{name}'s background flusher did not drain its journal"
    for name in names:  # each writer's close moved its whole journal to the server: no journal is left behind
        assert not list((tmp_path / f"home-{name}").rglob("*.sqlite3")), f"{name} left a pending journal"

    users = SHARED + [f"own-{name}" for name in names]
    reader = subprocess.run(
        [sys.executable, "-c", READER, host, str(port), namespace, json.dumps(users)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path / "home-reader"),
    )
    assert reader.returncode == 0, reader.stderr[-3000:]
    seen = _tagged(reader.stdout, "SEEN")

    for user in users:
        writes = [results[name]["written"][user] for name in names if user in results[name]["written"]]
        messages = seen[user]["messages"]
        insights = seen[user]["insights"]
        assert not [m for m, n in Counter(messages).items() if n > 1], f"duplicate messages of {user}"
        assert not [i for i, n in Counter(i["id"] for i in insights).items() if n > 1], f"duplicate insights of {user}"
        assert not [t for t, n in Counter(i["text"] for i in insights).items() if n > 1], f"duplicate texts of {user}"
        expected_messages = {m for w in writes for m in w["messages"]}
        assert set(messages) == expected_messages, f"{user}: lost {sorted(expected_messages - set(messages))[:5]}"
        by_text = {i["text"]: i for i in insights}
        for w in writes:
            for mid, text in zip(w["messages"], w["derived"], strict=True):
                assert text in by_text and by_text[text]["evidence"] == [mid], f"{user}: derived {text!r} lost"
        expected_added = {i for w in writes for i in w["added"]}
        assert expected_added <= {i["id"] for i in insights}, f"{user}: added insights lost"
        assert len(insights) == sum(len(w["derived"]) + len(w["added"]) for w in writes), f"{user}: extra insights"
        if user in SHARED:  # both processes wrote this user, interleaved
            assert {m.split("-", 1)[0] for m in messages} == set(names)

    with capsys.disabled():
        for name in names:
            written = results[name]["written"]
            print(
                f"\n{name}: {sum(len(w['messages']) for w in written.values())} messages, "
                f"{sum(len(w['derived']) for w in written.values())} derived + "
                f"{sum(len(w['added']) for w in written.values())} added insights over {len(written)} users "
                f"(journal drained by the background flusher {results[name]['drained']} times; "
                f"{results[name]['pending_at_close']} entries left for close)"
            )
        print(
            f"reader: {sum(len(s['messages']) for s in seen.values())} messages, "
            f"{sum(len(s['insights']) for s in seen.values())} insights over {len(seen)} users"
        )


# Gaps found while writing the test above, now fixed. Two UserModelers on one server namespace, each with its own
# cache and journal, as two processes would have.


def _two_modelers(http_client: Any) -> tuple[UserModeler, UserModeler, Callable[[], UserModeler]]:
    namespace = "gap-" + uuid.uuid4().hex[:10]

    def open_one() -> UserModeler:
        return UserModeler(client=http_client, embedder=HashingEmbedder(), namespace=namespace, shards=4)

    return open_one(), open_one(), open_one


# A process seeing what another flushed: UserModeler(refresh_after=...) re-reads a cached user (default 5 s in
# server mode); tested in tests/core/test_server_mode.py::test_a_process_sees_what_another_wrote_after_refresh_after.


def test_card_lines_learnt_by_two_processes_are_both_kept(http_client: Any) -> None:
    """The card is one record: a process plans a card change on a fresh copy from the server (server mode)."""
    a, b, open_one = _two_modelers(http_client)
    with a, b:
        b.observe("ann", [{"id": "b0", "role": "user", "content": "hello"}])
        b.flush_writes()
        a.observe("ann", [{"id": "a1", "role": "user", "content": "My name is Ann."}])
        a.flush_writes()
        b.observe("ann", [{"id": "b1", "role": "user", "content": "I'm 34 years old."}])
        b.flush_writes()
    with open_one() as reader:
        assert [m.id for m in reader.messages("ann")] == ["b0", "a1", "b1"]  # every message arrived
        assert set(reader.user_model("ann").card) == {"Name: Ann", "Is 34 years old"}
