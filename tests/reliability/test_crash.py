"""Crash safety of derivation: SIGKILL a child process at random points, restart, and check nothing is lost
or applied twice.

The child observes messages of two users and derives them with an LLM reasoner. Kill hooks are patched into
the child at every step that matters (journal commits, inside the commit's transaction, batch forming, the
LLM call, Chroma upserts, journal acks); a seeded random choice of step index decides where it dies. A few
more trials kill it after a random delay instead. After each kill a new modeler opens the same store and
flushes: every observed message must be there and derived exactly once (one insight per message, evidence
unique, ``times_seen`` 1), the restart must send the LLM exactly the messages the child had not applied, and
the counters must agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from support.scripted import ScriptedLLM, batch_messages

from personal_core import HashingEmbedder, UserModeler

SEED = 20240611
POINT_TRIALS = 12
TIMED_TRIALS = 4

# A fork server: it imports everything once (chromadb takes seconds to import on a busy machine), patches the
# kill hooks, warms up, then forks one child per trial. Lines on stdin: {"store", "kill_at", "log"}; on stdout,
# per trial: {"pid"} at once, then {"pid", "code"} when the child ended. No thread runs in it before a fork.
ZYGOTE = r"""
import json, os, re, signal, sys, time

from personal_core import HashingEmbedder, UserModeler
from personal_core import deriver as deriver_module
from personal_core.journal import Journal
from personal_core.queue import DeriveQueue
from personal_core.store import ChromaStore

STATE = {"kill_at": 0, "count": 0, "log": None}

def log(**event):
    os.write(STATE["log"], (json.dumps({**event, "t": time.time()}) + "\n").encode())

def point(name):
    STATE["count"] += 1
    if STATE["count"] == STATE["kill_at"]:
        log(killed_at=name, index=STATE["count"])
        os.kill(os.getpid(), signal.SIGKILL)

def hook(owner, name):
    original = getattr(owner, name)
    label = f"{owner.__name__}.{name}"
    def wrapped(*args, **kwargs):
        point(label + ":before")
        result = original(*args, **kwargs)
        point(label + ":after")
        return result
    setattr(owner, name, wrapped)

original_append = Journal.append
def append(self, user_id, upserts=(), deletes=(), *, also=None):
    point("journal.append:before")
    def also_then_die(db):
        if also is not None:
            also(db)
        point("journal.append:inside-transaction")  # dies before COMMIT
    result = original_append(self, user_id, upserts, deletes, also=also_then_die)
    point("journal.append:after")
    return result
Journal.append = append

hook(Journal, "ack")
hook(DeriveQueue, "form_batches")
hook(ChromaStore, "apply")

original_collection = ChromaStore._collection
class Proxy:
    def __init__(self, collection):
        self._c = collection
    def __getattr__(self, name):
        return getattr(self._c, name)
    def upsert(self, **kwargs):
        point("chroma.upsert:before")
        self._c.upsert(**kwargs)
        point("chroma.upsert:after")
ChromaStore._collection = lambda self, shard: Proxy(original_collection(self, shard))

MESSAGE = re.compile(r'<message id="(m\d+)" role="(\w+)" time="[^"]+">(.*?)</message>', re.S)
MARK = re.compile(r"\bzq(\w+?)k\b")

def llm(chat):
    time.sleep(0.01)
    items = []
    for alias, role, content in MESSAGE.findall(chat[1]["content"]):
        mark = MARK.search(content)
        if role == "user" and mark:
            tag = mark.group(1)
            items.append({"kind": "fact", "text": f"Noted zq{tag}k zq{tag}kb zq{tag}kc", "evidence": [alias]})
    return json.dumps({"new_insights": items})

original_call = deriver_module.call_llm
def call_llm(fn, messages, timeout):
    point("llm:before")
    reply = original_call(fn, messages, timeout)
    point("llm:after")
    return reply
deriver_module.call_llm = call_llm

def workload(path):
    m = UserModeler(path, llm=llm, embedder=HashingEmbedder(1024), shards=4, background=False,
                    batch_tokens=24, flush_interval=3600)
    log(event="open")
    for round_ in range(2):
        for user in ("ann", "bob"):
            batch = [
                {"id": f"{user}-{round_}-{i}", "role": "user" if i != 1 else "assistant",
                 "content": f"Note zq{user}{round_}n{i}k about what happened to me today, number {i}."}
                for i in range(3)
            ]
            log(event="observing", user=user, ids=[b["id"] for b in batch])
            m.observe(user, batch)
            log(event="observed", user=user, ids=[b["id"] for b in batch])
    m.flush()
    log(event="flushed", points=STATE["count"])
    m.close()
    log(event="closed", points=STATE["count"])

# Warm up once, so each child does only the workload: chromadb is imported lazily by the store and the token
# counter loads tiktoken's BPE file at the first open (together about 1 s a child). Neither may start a thread
# (numpy's BLAS pool, started at import, is the only one besides the main thread, and it is fork-safe).
def threads():
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1

before_warm_up = threads()
import chromadb, chromadb.api.rust  # noqa: E401,F401
from personal_core import default_counter
default_counter()
assert threads() == before_warm_up, "warming up started a thread: forking would copy it half-done"

for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            STATE.update(kill_at=job["kill_at"], count=0,
                         log=os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
            workload(job["store"])
            code = 0
        except BaseException as exc:
            log(error=repr(exc))
            code = 3
        os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Zygote:
    """The fork server process (see ``ZYGOTE``)."""

    def __init__(self) -> None:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def _line(self) -> dict[str, int]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the zygote answers within seconds; a dead one gives ""
        assert line, f"the fork server died (exit code {self.proc.poll()})"
        return json.loads(line)  # type: ignore[no-any-return]

    def run(self, store: Path, log: Path, kill_at: int, delay: float | None = None) -> int:
        """Run the workload in a fresh child; with ``delay``, SIGKILL it that long after it opened the store."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"store": str(store), "kill_at": kill_at, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        pid = self._line()["pid"]
        if delay is not None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (log.exists() and '"open"' in log.read_text()):
                time.sleep(0.002)
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return self._line()["code"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


MESSAGE_MARK = re.compile(r"\bzq(\w+?)k\b")


def respond(chat: list[dict[str, str]]) -> str:
    """The same reasoner as the child's: one distinct insight per user message."""
    items = []
    for alias, role, _, content in batch_messages(chat):
        mark = MESSAGE_MARK.search(content)
        if role == "user" and mark:
            tag = mark.group(1)
            items.append({"kind": "fact", "text": f"Noted zq{tag}k zq{tag}kb zq{tag}kc", "evidence": [alias]})
    return json.dumps({"new_insights": items})


def read_log(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def verify_restart(store: Path, events: list[dict[str, object]]) -> dict[str, int]:
    """Reopen, check what survived, derive the rest, and check exactly-once. Returns figures for the report."""
    returned = [set(e["ids"]) for e in events if e.get("event") == "observed"]  # type: ignore[arg-type]
    started = [set(e["ids"]) for e in events if e.get("event") == "observing"]  # type: ignore[arg-type]
    in_flight = started[len(returned)] if len(started) > len(returned) else set()
    llm = ScriptedLLM(respond)
    with UserModeler(store, llm=llm, embedder=HashingEmbedder(1024), background=False) as m:
        stored = {u: {x.id: x for x in m.messages(u)} for u in ("ann", "bob")}
        ids = set(stored["ann"]) | set(stored["bob"])
        for group in returned:
            assert group <= ids, f"messages of a returned observe() were lost: {sorted(group - ids)}"
        assert not in_flight & ids or in_flight <= ids, "an interrupted observe() stored part of its batch"
        assert ids <= set().union(*returned, in_flight), "messages that were never observed appeared"
        before = {u: {i.evidence[0] for i in m.user_model(u).insights} for u in ("ann", "bob")}
        stats_before = m.stats()
        assert stats_before["llm_calls"] == stats_before["batches_done"], "each applied batch took one call"
        m.flush()
        m.flush()
        users = {u: m.user_model(u) for u in ("ann", "bob")}
        stats = m.stats()
    user_messages = {mid for u in stored for mid, x in stored[u].items() if x.role.value == "user"}
    evidence = Counter(e for model in users.values() for i in model.insights for e in i.evidence)
    assert set(evidence) == user_messages, "every user message was derived"
    assert all(n == 1 for n in evidence.values()), f"evidence applied twice: {evidence.most_common(2)}"
    for model in users.values():
        texts = Counter(i.text for i in model.insights)
        assert all(n == 1 for n in texts.values()), "an insight was added twice"
        assert all(i.times_seen == 1 and len(i.evidence) == 1 for i in model.insights), "a batch was applied twice"
    sent = Counter(c for chat in llm.calls for _, role, _, c in batch_messages(chat) if role == "user")
    content_of = {x.content: mid for u in stored for mid, x in stored[u].items()}
    already = before["ann"] | before["bob"]
    assert {content_of[c] for c in sent} == user_messages - already, "the restart derived exactly the rest"
    assert all(n == 1 for n in sent.values()), "a message was sent to the LLM twice on restart"
    assert stats["pending_messages"] == stats["pending_batches"] == stats["failed_batches"] == 0
    assert stats["batches_formed"] == stats["batches_done"], "every batch formed was completed exactly once"
    assert stats["llm_calls"] == stats_before["llm_calls"] + len(llm.calls)
    assert stats["messages_observed"] == len(ids), "no observe() was counted twice"
    return {"messages": len(ids), "derived_by_child": len(already), "derived_on_restart": len(sent)}


def verify_idempotent_reopen(store: Path) -> None:
    llm = ScriptedLLM(respond)
    with UserModeler(store, llm=llm, embedder=HashingEmbedder(1024), background=False) as m:
        before = {u: m.user_model(u) for u in ("ann", "bob")}
        m.flush()
        assert llm.calls == [], "a third open derives nothing"
        assert {u: m.user_model(u) for u in ("ann", "bob")} == before


def calibrate(zygote: Zygote, tmp_path: Path) -> tuple[int, float]:
    """A run without a kill: how many kill points the workload crosses, and how long its work takes."""
    log = tmp_path / "calibration.log"
    code = zygote.run(tmp_path / "calibration", log, kill_at=0)
    events = read_log(log)
    assert code == 0, f"the child workload runs cleanly without a kill: {events[-1:]}"
    total = int(next(e["points"] for e in events if e.get("event") == "flushed"))  # type: ignore[call-overload]
    opened = float(next(e["t"] for e in events if e.get("event") == "open"))  # type: ignore[arg-type]
    closed = float(next(e["t"] for e in events if e.get("event") == "closed"))  # type: ignore[arg-type]
    verify_restart(tmp_path / "calibration", events)
    return total, closed - opened


def test_sigkill_at_random_points_of_derivation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    zygote = Zygote()
    try:
        total, duration = calibrate(zygote, tmp_path)
        assert total >= 30, f"the workload should cross many kill points, got {total}"
        points = sorted(rng.sample(range(1, total + 1), POINT_TRIALS))
        outcomes: list[str] = []
        where: Counter[str] = Counter()
        for trial, kill_at in enumerate(points):
            store, log = tmp_path / f"point-{trial}", tmp_path / f"point-{trial}.log"
            code = zygote.run(store, log, kill_at)
            events = read_log(log)
            killed = [e for e in events if "killed_at" in e]
            assert code == -signal.SIGKILL and killed, f"trial {trial}: the child was not killed at point {kill_at}"
            figures = verify_restart(store, events)
            if trial % 4 == 0:
                verify_idempotent_reopen(store)
            name = str(killed[0]["killed_at"])
            where[name.split(":")[0]] += 1
            outcomes.append(
                f"#{kill_at} {name}: {figures['messages']} msgs kept, {figures['derived_by_child']} derived before "
                f"the kill, {figures['derived_on_restart']} on restart"
            )
        timed_kills = 0
        for trial in range(TIMED_TRIALS):
            store, log = tmp_path / f"timed-{trial}", tmp_path / f"timed-{trial}.log"
            delay = rng.uniform(0.0, duration)
            code = zygote.run(store, log, kill_at=0, delay=delay)
            timed_kills += code == -signal.SIGKILL
            figures = verify_restart(store, read_log(log))
            outcomes.append(
                f"after {delay * 1000:.0f} ms ({'killed' if code == -signal.SIGKILL else 'finished first'}): "
                f"{figures['messages']} msgs kept, {figures['derived_by_child']} derived before, "
                f"{figures['derived_on_restart']} on restart"
            )
    finally:
        zygote.close()
    with capsys.disabled():
        print(
            f"\n[crash] {POINT_TRIALS} kill-point trials (of {total} points; seed {SEED}) + {TIMED_TRIALS} timed "
            f"trials ({timed_kills} killed mid-work; work takes {duration * 1000:.0f} ms): 0 lost, 0 applied twice; "
            f"killed in {dict(where)}"
        )
        for line in outcomes:
            print("  " + line)
