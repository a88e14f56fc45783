"""What a device shows offline: the pulled row with its own changes on top."""

from __future__ import annotations

from protocol.lifecycle import allowed_actions
from syncd_client.view import overlay


def upsert(**fields: object) -> dict[str, object]:
    return {"op": "upsert", "fields": fields}


def act(action: str) -> dict[str, object]:
    return {"op": "action", "action": action}


def test_upserts_set_fields_in_order_over_the_pulled_row() -> None:
    row = {"id": "t1", "title": "Pump", "priority": "normal"}
    seen = overlay(row, "t1", [upsert(priority="high"), upsert(priority="urgent", title="Seal")])
    assert seen == {"id": "t1", "title": "Seal", "priority": "urgent"}
    assert row["priority"] == "normal"  # the replica's row is not touched


def test_a_row_made_on_the_device_shows_before_any_pull() -> None:
    assert overlay(None, "t2", [upsert(title="New")]) == {"id": "t2", "title": "New"}


def test_a_delete_hides_the_row_and_an_action_on_nothing_is_nothing() -> None:
    assert overlay({"id": "t3"}, "t3", [{"op": "delete"}, act("start")]) is None


def test_actions_move_the_status_as_the_server_would() -> None:
    row = {"id": "t4", "status": "assigned"}
    assert overlay(row, "t4", [act("start"), act("pause")])["status"] == "paused"  # type: ignore[index]


def test_an_action_the_status_does_not_allow_changes_nothing() -> None:
    row = {"id": "t5", "status": "completed"}
    assert "start" not in allowed_actions(row["status"])  # type: ignore[arg-type]
    assert overlay(row, "t5", [act("start"), act("no-such-action")]) == row
