"""Runs of one flow take turns on a lake (``storage.flow_lock``): a second run waits for the first and then finds
its work done, so two audits of one batch at once decide every claim once; runs of different flows do not wait
for each other; a killed run releases its turn; the lock file stays empty.

The lock tests hold the lock from a child process (``flock`` belongs to an open file, so a child is what another
run is). The end-to-end test runs real ``sigpipe audit`` processes against the test session's Prefect server.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lake_helpers import child_env
from lake_helpers import rows as _rows

import storage

ROOT = Path(__file__).resolve().parents[1]

_HOLDER = """
import sys
sys.path.insert(0, {root!r})
import storage
with storage.flow_lock(sys.argv[1], sys.argv[2], lambda message: print("waiting", flush=True)):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
"""


def _hold(lake: Path, flow: str, first: str = "held") -> subprocess.Popen:
    """A child process holding ``flow``'s lock on ``lake`` until its stdin is closed; returns once the child
    printed ``first`` ("held", or "waiting" when another process holds the lock)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER.format(root=str(ROOT)), str(lake), flow], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == first
    return proc


def _take_in_thread(lake: Path, flow: str) -> tuple[threading.Thread, threading.Event, list[str]]:
    """Take ``flow``'s lock in a thread and release it at once; (thread, set when taken, wait messages)."""
    taken, said = threading.Event(), []

    def run() -> None:
        with storage.flow_lock(lake, flow, said.append):
            taken.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, taken, said


def test_a_second_run_of_a_flow_waits_for_the_first_and_is_told_who_holds_it(tmp_path):
    lake = tmp_path / "lake"
    holder = _hold(lake, "audit")
    waiter = _hold(lake, "audit", first="waiting")  # a run already waiting is not named as the holder
    try:
        t, taken, said = _take_in_thread(lake, "audit")
        assert not taken.wait(1.0)  # the holder still runs: we wait
        assert len(said) == 1
        assert f"(process {holder.pid} holds .audit.lock)" in said[0] and str(lake) in said[0]

        # another flow's runs do not wait for an audit
        with storage.flow_lock(lake, "catalog", lambda m: pytest.fail(f"waited: {m}")):
            pass

        holder.stdin.close()  # the first run finishes; the runs waiting take their turns one at a time
        got = waiter.stdout.readline().strip()
        assert got == "held" or taken.is_set()
        waiter.stdin.close()
        assert taken.wait(30)
        t.join(30)
        assert len(said) == 1  # told once
    finally:
        for p in (holder, waiter):
            p.kill()
            p.wait()
    # the lock file holds nothing (a rerun that finds nothing to do leaves the lake's files as they were)
    lock = lake / ".audit.lock"
    assert lock.stat().st_size == 0 and oct(lock.stat().st_mode & 0o777) == oct(0o600)


def test_a_killed_run_gives_up_its_turn(tmp_path):
    lake = tmp_path / "lake"
    holder = _hold(lake, "enroll")
    t, taken, said = _take_in_thread(lake, "enroll")
    assert not taken.wait(0.5) and said
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    assert taken.wait(30)  # nothing stale to clear by hand
    t.join(30)
    with storage.flow_lock(lake, "enroll", lambda m: pytest.fail(f"waited: {m}")):
        pass


def test_holders_finds_no_one_for_a_free_lock(tmp_path):
    lake = tmp_path / "lake"
    with storage.flow_lock(lake, "review"):
        pass
    from storage.locks import holders

    assert holders(lake / ".review.lock") == []
    assert holders(tmp_path / "missing.lock") == []


# --------------------------------------------------------------------------------- two real audits at once


def _wait_for(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_two_audits_of_one_batch_at_once_decide_each_claim_once(prefect_harness, tmp_path):
    from flows.enroll import enroll
    from flows.params import EnrollParams
    from sigpipe.synth import generate

    data = tmp_path / "data"
    generate(data, signers=2, documents=4, seed=34, dpi=100, references_per_signer=3, genuine_per_signer=0,
             forged_per_signer=0)
    lake = tmp_path / "lake"
    enroll(EnrollParams(source=data / "references", lake=lake))
    with open(data / "manifest.csv", newline="") as f:
        n_claims = sum(1 for _ in csv.DictReader(f))

    # Both audits start while a third run holds the audit's turn, so both read the lake before either writes:
    # without turns, both would decide every claim.
    holder = _hold(lake, "audit")
    procs, logs = [], []
    try:
        for i in range(2):
            log = tmp_path / f"audit-{i}.log"
            logs.append(log)
            with open(log, "w") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "flows.cli", "audit", str(data / "inbox"), "--manifest",
                     str(data / "manifest.csv"), "--lake", str(lake)], cwd=ROOT, env=child_env(), stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True))
        def both_wait() -> bool:
            for p, log in zip(procs, logs, strict=True):
                assert p.poll() is None, f"an audit ended without waiting for its turn:\n{log.read_text()[-4000:]}"
            return all("another audit run is writing" in log.read_text() for log in logs)

        _wait_for(both_wait, 300, "both audits to wait for their turn")
        assert _rows(lake, "SELECT count(*) AS n FROM verdicts")[0]["n"] == 0  # nothing decided while waiting
        holder.stdin.close()
        for p, log in zip(procs, logs, strict=True):
            assert p.wait(600) == 0, log.read_text()[-4000:]
    finally:
        holder.kill()
        holder.wait()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)

    got = _rows(lake, "SELECT count(*) AS n, count(DISTINCT verdict_id) AS k, count(DISTINCT run_id) AS runs "
                      "FROM verdicts")[0]
    assert got == {"n": n_claims, "k": n_claims, "runs": 1}
    said = sorted(log.read_text() for log in logs)
    assert sum(f"{n_claims} already decided" in s for s in said) == 1  # the second found the first's work done
    assert _rows(lake, "SELECT count(*) AS n FROM audit_summary")[0]["n"] == 1
    raw = storage.read_table(lake, "documents").column("doc_id").to_pylist()
    assert len(raw) == len(set(raw)) == 4  # ingested once
