"""The audit hash chain: verifies, locates tampering, never forks under concurrency."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select, update

from tools.runbooks.audit import GENESIS, canonical, record, row_hash, verify_chain
from tools.store import Store
from tools.store.models_runbooks import AuditRow


def _fill(store: Store, n: int) -> None:
    for i in range(n):
        record(
            store, actor="tester", event="note", rationale=f"row {i}", payload={"i": i, "f": 0.5}
        )


def test_an_untouched_chain_verifies(store: Store) -> None:
    assert verify_chain(store).model_dump() == {
        "ok": True,
        "rows": 0,
        "head": GENESIS,
        "first_broken_seq": None,
        "first_broken_id": None,
        "reason": None,
    }
    _fill(store, 5)
    result = verify_chain(store, batch=2)  # crosses batch boundaries
    assert result.ok and result.rows == 5
    with store.read() as conn:
        first = conn.execute(select(AuditRow).where(AuditRow.seq == 1)).mappings().one()
    content = {
        k: first[k]
        for k in (
            "seq",
            "at",
            "actor",
            "event",
            "proposal_id",
            "incident_id",
            "rationale",
            "payload",
        )
    }
    assert first["hash"] == row_hash(GENESIS, content)
    assert first["payload"] == canonical({"i": 0, "f": 0.5})


def test_editing_one_row_breaks_verification_at_that_row(store: Store) -> None:
    _fill(store, 6)
    with store.write() as conn:
        conn.execute(update(AuditRow).where(AuditRow.seq == 3).values(rationale="nothing to see"))
    result = verify_chain(store)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert result.reason == "row 3 was changed after it was written (hash mismatch)"


def test_a_rewritten_hash_breaks_the_next_link_and_deletions_show(store: Store) -> None:
    _fill(store, 6)
    with store.write() as conn:
        conn.execute(update(AuditRow).where(AuditRow.seq == 2).values(hash="f" * 64))
    broken = verify_chain(store)
    assert (broken.first_broken_seq, broken.reason) == (
        2,
        "row 2 was changed after it was written (hash mismatch)",
    )
    with store.write() as conn:
        conn.execute(delete(AuditRow).where(AuditRow.seq <= 2))
    gone = verify_chain(store)
    assert (gone.first_broken_seq, gone.reason) == (
        3,
        "sequence jumps from 0 to 3: rows are missing",
    )


def test_concurrent_appends_do_not_fork_the_chain(store: Store) -> None:
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for j in range(5):
                record(store, actor=f"w{i}", event="note", payload={"j": j})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    result = verify_chain(store)
    assert result.ok and result.rows == 80
