"""The client's store: every step one transaction, so a kill between steps loses nothing.

A "kill" here is closing the store where the app stands and opening the file
again: what a restarted app finds is exactly what the last committed step left.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.changes import Change, ChangeResult, Op, PulledChange
from protocol.hlc import Stamp
from protocol.merge import Outcome
from syncd_client.errors import ProtocolViolation
from syncd_client.store import LocalStore, Tokens

CLIENT = "dev-a"


def upsert(store: LocalStore, row_id: uuid.UUID, **fields: Any) -> Change:
    def build(hlc: str, base: int) -> Change:
        return Change(
            entity="task", id=row_id, op=Op.UPSERT, hlc=hlc, base_version=base, fields=fields
        )

    return store.enqueue("task", row_id, build)


def pulled(row_id: uuid.UUID, version: int, op: str = "upsert", **data: Any) -> PulledChange:
    body = {"id": str(row_id), "version": version, **data} if op == "upsert" else {}
    return PulledChange(version=version, entity="task", id=row_id, op=op, data=body)


def applied(version: int, row_id: uuid.UUID) -> ChangeResult:
    return ChangeResult(id=str(row_id), status=Outcome.APPLIED, version=version)


def reopen(store: LocalStore, **options: Any) -> LocalStore:
    """Kill the app (close wherever it stands) and start it again from its file."""
    store.close()
    return LocalStore(store.path, CLIENT, **options)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    opened = LocalStore(tmp_path / "device.db", CLIENT)
    yield opened
    opened.close()


def test_a_queued_change_survives_a_kill_with_its_stamp(store: LocalStore) -> None:
    row_id = uuid.uuid4()
    change = upsert(store, row_id, title="Pump")
    store = reopen(store)
    assert store.pending() == [change.model_dump(mode="json", exclude_none=True)]
    assert store.outbox_size() == 1
    later = upsert(store, row_id, title="Pump seal")
    assert Stamp.parse(later.hlc) > Stamp.parse(change.hlc)
    store.close()


def test_the_clock_never_goes_back_across_restarts_even_if_the_wall_clock_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "device.db"
    store = LocalStore(path, CLIENT, now_ms=lambda: 1_764_000_100_000)
    first = upsert(store, uuid.uuid4(), title="a")
    store.close()
    store = LocalStore(path, CLIENT, now_ms=lambda: 1_764_000_000_000)  # clock set back
    second = upsert(store, uuid.uuid4(), title="b")
    store.close()
    assert Stamp.parse(second.hlc) > Stamp.parse(first.hlc)
    assert Stamp.parse(second.hlc).node == CLIENT


def test_a_batch_id_is_saved_before_the_send_and_reused_after_a_kill(store: LocalStore) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    for row_id in ids:
        upsert(store, row_id, title="t")
    batch = store.next_batch(2)
    assert batch is not None
    assert len(batch) == 2
    assert batch.batch_id == f"{CLIENT}-00000001"
    store = reopen(store)  # killed after saving the id, before (or after) sending
    upsert(store, uuid.uuid4(), title="queued after the kill")
    again = store.next_batch(10)
    assert again == batch  # same id, same changes: the server answers it from its record
    assert store.in_flight() == batch.batch_id
    body = again.body(CLIENT)
    assert body["batch_id"] == batch.batch_id
    assert [c["id"] for c in body["changes"]] == [str(i) for i in ids[:2]]
    store.complete_batch(batch.batch_id, [applied(1, ids[0]), applied(2, ids[1])], "c2")
    following = store.next_batch(10)
    assert following is not None
    assert following.batch_id == f"{CLIENT}-00000002"
    assert len(following) == 2
    store.close()


def test_completing_moves_changes_out_of_the_outbox_once(store: LocalStore) -> None:
    row_id = uuid.uuid4()
    upsert(store, row_id, title="t")
    batch = store.next_batch(10)
    assert batch is not None
    with pytest.raises(ProtocolViolation):
        store.complete_batch(batch.batch_id, [], "c1")  # one result per change, or nothing
    assert store.outbox_size() == 1
    acks = store.complete_batch(batch.batch_id, [applied(7, row_id)], "c7")
    assert [a.status for a in acks] == [Outcome.APPLIED]
    assert store.complete_batch(batch.batch_id, [applied(7, row_id)], "c7") == []
    assert store.outbox_size() == 0
    assert store.next_batch(10) is None
    assert store.in_flight() is None


def test_a_refused_batch_can_be_released_and_resent_smaller(store: LocalStore) -> None:
    for _ in range(4):
        upsert(store, uuid.uuid4(), title="t")
    batch = store.next_batch(4)
    assert batch is not None
    store.release_batch(batch.batch_id)
    smaller = store.next_batch(2)
    assert smaller is not None
    assert smaller.batch_id != batch.batch_id
    assert smaller.changes == batch.changes[:2]


def test_a_page_and_its_cursor_are_applied_together_or_not_at_all(store: LocalStore) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert store.apply_page([pulled(a, 3, title="A"), pulled(b, 4, title="B")], "c4") == 2
    store = reopen(store)
    assert store.cursor == "c4"
    assert store.row("task", a) == {"id": str(a), "version": 3, "title": "A"}

    def page_that_breaks() -> Iterator[PulledChange]:
        yield pulled(a, 5, title="A2")
        raise RuntimeError("killed halfway through the page")

    with pytest.raises(RuntimeError):
        store.apply_page(page_that_breaks(), "c5")
    assert store.cursor == "c4"
    assert store.row("task", a) == {"id": str(a), "version": 3, "title": "A"}
    store.apply_page([pulled(b, 6, op="delete"), pulled(a, 7, op="remove")], "c7")
    assert store.rows() == {}
    assert store.cursor == "c7"
    store.close()


def test_base_version_is_the_version_the_device_last_saw(store: LocalStore) -> None:
    row_id = uuid.uuid4()
    assert upsert(store, row_id, title="new").base_version == 0
    store.apply_page([pulled(row_id, 12, title="new")], "c12")
    assert upsert(store, row_id, priority="high").base_version == 12


def test_every_step_of_a_sync_survives_a_kill_between_any_two(tmp_path: Path) -> None:
    """enqueue | next_batch | complete | apply_page, with a kill after each step."""
    store = LocalStore(tmp_path / "d.db", CLIENT, keep_history=True)
    row_id = uuid.uuid4()
    upsert(store, row_id, title="t")
    store = reopen(store, keep_history=True)
    batch = store.next_batch(10)
    assert batch is not None
    store = reopen(store, keep_history=True)
    assert store.next_batch(10) == batch
    store.complete_batch(batch.batch_id, [applied(1, row_id)], "c1")
    store = reopen(store, keep_history=True)
    assert store.outbox_size() == 0
    assert [a.result.version for a in store.history()] == [1]
    store.apply_page([pulled(row_id, 1, title="t")], "c1")
    store = reopen(store, keep_history=True)
    assert store.cursor == "c1"
    assert store.row("task", row_id) == {"id": str(row_id), "version": 1, "title": "t"}
    store.close()


def test_conflict_answers_wait_for_the_callback_then_go(store: LocalStore) -> None:
    row_id = uuid.uuid4()
    upsert(store, row_id, priority="high")
    upsert(store, row_id, priority="low")
    batch = store.next_batch(10)
    assert batch is not None
    conflict = ChangeResult(
        id=str(row_id), status=Outcome.CONFLICT, conflict_id=uuid.uuid4(), current={}
    )
    store.complete_batch(batch.batch_id, [conflict, applied(9, row_id)], "c9")
    waiting = store.undelivered()
    assert [a.status for a in waiting] == [Outcome.CONFLICT]
    assert waiting[0].change["fields"] == {"priority": "high"}
    store = reopen(store)  # killed before the callback took it: it is still there
    assert [a.seq for a in store.undelivered()] == [waiting[0].seq]
    store.mark_delivered([waiting[0].seq])
    assert store.undelivered() == []
    # the applied change stays until a pull brings its effect back
    assert [c["fields"] for c in store.unechoed("task", row_id)] == [{"priority": "low"}]
    store.apply_page([pulled(row_id, 9, priority="low")], "c9")
    assert store.unechoed("task") == []
    assert store.history() == []  # nothing kept without keep_history
    store.close()


def test_an_action_is_echoed_by_its_timeline_event(store: LocalStore) -> None:
    task_id = uuid.uuid4()

    def start(hlc: str, base: int) -> Change:
        return Change(entity="task", id=task_id, op=Op.ACTION, action="start", hlc=hlc)

    store.enqueue("task", task_id, start)
    batch = store.next_batch(10)
    assert batch is not None
    store.complete_batch(batch.batch_id, [applied(22, task_id)], "c22")
    assert len(store.unechoed("task", task_id)) == 1
    store.apply_page([pulled(task_id, 21, status="in_progress")], "c21")
    assert len(store.unechoed("task", task_id)) == 1  # the event (22) is not here yet
    event = PulledChange(
        version=22,
        entity="task_event",
        id=uuid.uuid4(),
        op="upsert",
        data={"task_id": str(task_id), "kind": "started", "version": 22},
    )
    store.apply_page([event], "c22")
    assert store.unechoed("task", task_id) == []


def test_an_answer_already_pulled_back_is_not_overlaid(store: LocalStore) -> None:
    row_id = uuid.uuid4()
    upsert(store, row_id, title="t")
    store.apply_page([pulled(row_id, 5, title="t")], "c5")  # live page before push_result
    batch = store.next_batch(10)
    assert batch is not None
    store.complete_batch(batch.batch_id, [applied(5, row_id)], "c5")
    assert store.unechoed("task", row_id) == []


def test_history_keeps_every_answer_when_asked(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "d.db", CLIENT, keep_history=True)
    row_id = uuid.uuid4()
    upsert(store, row_id, title="t")
    batch = store.next_batch(10)
    assert batch is not None
    store.complete_batch(batch.batch_id, [applied(3, row_id)], "c3")
    store.apply_page([pulled(row_id, 3, title="t")], "c3")
    [ack] = store.history()
    assert (ack.batch_id, ack.position, ack.cursor, ack.delivered) == (
        batch.batch_id,
        0,
        "c3",
        True,
    )
    store.close()


def test_tokens_are_kept(store: LocalStore) -> None:
    assert store.tokens() is None
    store.save_tokens(Tokens("access", "refresh", 1_764_000_000.5))
    store = reopen(store)
    assert store.tokens() == Tokens("access", "refresh", 1_764_000_000.5)
    store.close()


def test_a_file_belongs_to_one_client_id_and_one_schema(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    LocalStore(path, CLIENT).close()
    with pytest.raises(ValueError, match="belongs to client id"):
        LocalStore(path, "dev-b")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(ValueError, match="schema 99"):
        LocalStore(path, CLIENT)


def test_the_store_is_a_context_manager(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "d.db", CLIENT) as store:
        upsert(store, uuid.uuid4(), title="t")
    with pytest.raises(sqlite3.ProgrammingError):
        store.outbox_size()
