"""The folder drop on its own: each file taken once, whatever the partner got wrong and
wherever a take is cut short; each move a result file written once, never overwritten."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rxfloor.core import sources
from rxfloor.core.config import load_settings
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sources.base import PermanentError
from rxfloor.core.sources.folder import layout
from rxfloor.core.sources.folder.source import FolderOrder, FolderSource
from rxfloor.sandbox.folder import Partner


def pull(source: FolderSource, *, active: bool = False) -> tuple[list[FolderOrder], list[str]]:
    found = list(source.iter_orders(100, active=active))
    return [o for o in found if not isinstance(o, str)], [e for e in found if isinstance(e, str)]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "drop"


@pytest.fixture
def partner(root: Path) -> Partner:
    return Partner(root, seed=1)


@pytest.fixture
def source(root: Path, partner: Partner) -> FolderSource:
    return FolderSource(root, settle_s=0.0, give_up_s=60.0)


def test_the_plugin_is_found_and_configured_by_its_section(root: Path) -> None:
    assert "folder" in sources.names()
    Path(os.environ["RXFLOOR_CONFIG"]).write_text(f'[sources.folder]\npath = "{root}"\n')
    settings = load_settings()
    assert "folder" in sources.configured(settings)
    source = sources.open_source("folder", settings)
    assert isinstance(source, FolderSource) and source.root == root
    assert sources.status_words("folder", "started") == "Started"
    assert sources.traits("folder").remote_hold is False


def test_jsonl_and_csv_orders_are_taken_once(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    first = partner.drop(3)
    partner.drop(2, fmt="csv")
    orders, errors = pull(source)
    assert errors == []
    assert [o.uid for o in orders] == ["TH-1001", "TH-1002", "TH-1003", "TH-1004", "TH-1005"]
    assert names(root / "inbox") == []
    assert len(names(root / "taken")) == 2 and names(root / "taken")[0].endswith(first.name)
    new = orders[3].to_new_order(Status.OPEN)
    assert (new.source, new.remote_id, new.name, new.remote_status) == (
        "folder", "TH-1004", "#TH-1004", "open")  # fmt: skip
    assert new.items and new.patient_name
    again, _ = pull(source)
    assert [o.uid for o in again] == [o.uid for o in orders]  # listed, not taken again
    assert len(names(root / "orders")) == 5


def test_a_file_being_written_is_left_until_it_is_complete(
    source: FolderSource, root: Path
) -> None:
    inbox = root / "inbox"
    line = json.dumps({"order": "A-1", "items": "Sertraline 50 mg"})
    (inbox / ".partner-1.jsonl").write_text(line + "\n")  # the partner's temporary names
    (inbox / "partner-1.jsonl.tmp").write_text(line + "\n")
    (inbox / "partner-1.jsonl.part").write_text(line + "\n")
    growing = inbox / "partner-2.jsonl"
    growing.write_text(line + '\n{"order": "A-2", "ite')  # no newline yet: still written
    assert pull(source) == ([], [])
    assert names(inbox) == ["partner-1.jsonl.part", "partner-1.jsonl.tmp", "partner-2.jsonl"]
    growing.write_text(line + "\n" + json.dumps({"order": "A-2", "items": "Minoxidil"}) + "\n")
    orders, errors = pull(source)
    assert [o.uid for o in orders] == ["A-1", "A-2"] and errors == []


def test_a_file_changed_just_now_waits_for_the_settle_time(root: Path, partner: Partner) -> None:
    now = [10_000.0]
    source = FolderSource(root, settle_s=2.0, clock=lambda: now[0])
    path = partner.drop(1)
    os.utime(path, (now[0] - 1, now[0] - 1))
    assert pull(source) == ([], [])
    now[0] += 1.5
    assert [o.uid for o in pull(source)[0]] == ["TH-1001"]


def test_an_unreadable_file_is_retried_then_rejected_with_its_reason(
    root: Path, partner: Partner
) -> None:
    now = [10_000.0]
    source = FolderSource(root, settle_s=0.0, give_up_s=60.0, clock=lambda: now[0])
    bad = partner.write("broken.csv", b"patient,items\nAda,Sertraline\n")  # no order column
    os.utime(bad, (now[0], now[0]))
    assert pull(source) == ([], [])
    assert names(root / "inbox") == ["broken.csv"]
    now[0] += 61
    orders, errors = pull(source)
    assert orders == [] and errors == ["broken.csv rejected: unreadable: the CSV header names "
                                       "no 'order' column (patient, items)"]  # fmt: skip
    (reason,) = (root / "rejected").glob("*.reason.json")
    assert "no 'order' column" in json.loads(reason.read_text())["reason"]
    assert (root / "rejected" / reason.name.removesuffix(".reason.json")).read_bytes() == (
        b"patient,items\nAda,Sertraline\n"
    )  # the file itself, never lost


def test_a_malformed_line_is_rejected_with_its_reason_and_the_others_taken(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    partner.drop(2, malformed=True)
    partner.drop(1, fmt="csv", malformed=True)
    orders, errors = pull(source)
    assert [o.uid for o in orders] == ["TH-1001", "TH-1002", "TH-1003"]
    assert len(errors) == 2
    assert "line 3 rejected: not JSON" in errors[0]
    assert "line 3 rejected: 2 cells where the header has 5" in errors[1]
    notes = [json.loads(p.read_text()) for p in sorted((root / "rejected").glob("*.json"))]
    assert {n["reason"].split(":")[0] for n in notes} == {
        "not JSON",
        "2 cells where the header has 5",
    }
    assert all(n["text"] and n["file"] and n["line"] == 3 for n in notes)
    assert pull(source)[1] == []  # each rejection said once


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"order": "../etc", "items": "x"}, "order must be"),
        ({"order": "A" * 64, "items": "x"}, "order must be"),  # "#" + 64: too long a name
        ({"order": "A-1"}, "items"),
        ({"order": "A-1", "items": "x", "delivery": "drone"}, "delivery"),
        ({"order": "A-1", "items": "x", "due": "tomorrow"}, "due"),
    ],
)
def test_a_line_that_is_not_an_order_says_why(
    source: FolderSource, partner: Partner, fields: dict[str, Any], words: str
) -> None:
    partner.write("one.jsonl", (json.dumps(fields) + "\n").encode())
    orders, (error,) = pull(source)
    assert orders == [] and words in error


def test_the_same_file_dropped_twice_is_taken_once(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    partner.drop(2)
    assert len(pull(source)[0]) == 2
    partner.drop_again()
    orders, errors = pull(source)
    assert len(orders) == 2
    assert errors == ["again-0002-th-0001.jsonl rejected: the same content was taken before"]
    assert names(root / "inbox") == []


def test_the_same_order_in_another_file_is_rejected_not_taken_twice(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    partner.write("a.jsonl", b'{"order": "A-1", "items": "Sertraline"}\n')
    pull(source)
    partner.write("b.jsonl", b'{"order": "A-1", "items": "Minoxidil"}\n')
    orders, (error,) = pull(source)
    assert "order A-1 was taken before (from a.jsonl line 1)" in error
    (order,) = orders
    assert order.record["items"][0]["drug"] == "Sertraline"


def test_a_take_cut_short_is_done_again_with_the_same_outcome(
    source: FolderSource, partner: Partner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the orders and the rejections were written but before the file left
    the inbox: the next pull takes the file again, to the same orders, rejecting nothing
    twice and nothing that was its own."""
    partner.drop(3, malformed=True)

    def crash(src: Path, dst: Path) -> None:
        raise KeyboardInterrupt("killed between file writes")

    monkeypatch.setattr(layout, "move", crash)
    with pytest.raises(KeyboardInterrupt):
        pull(source)
    assert len(names(root / "orders")) == 3 and names(root / "inbox") == ["th-0001.jsonl"]
    monkeypatch.undo()
    orders, errors = pull(source)
    assert [o.uid for o in orders] == ["TH-1001", "TH-1002", "TH-1003"]
    assert errors == []  # the bad line was rejected (and said) before the crash
    assert len(list((root / "rejected").glob("*.json"))) == 1
    assert names(root / "inbox") == []


def test_each_move_is_one_result_file_and_an_existing_one_is_never_overwritten(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    partner.drop(2)
    pull(source)
    order = source.push_step("TH-1001", "start", reason=None, idempotency_key="k1", payload=None)
    assert (order.status, order.board_status) == ("started", Status.PROCESSING)
    first = (root / "results" / "TH-1001.start.json").read_bytes()
    again = source.push_step("TH-1001", "start", reason=None, idempotency_key="k2", payload=None)
    assert again.status == "started"
    assert (root / "results" / "TH-1001.start.json").read_bytes() == first  # not rewritten
    tracking = {"tracking": {"number": "1Z999", "company": "UPS"}}
    done = source.push_step("TH-1001", "finish", reason=None, idempotency_key="k3",
                            payload=tracking)  # fmt: skip
    assert done.status == "finished"
    source.push_step("TH-1002", "cancel", reason="out of stock", idempotency_key="k4", payload=None)
    results = partner.read_results()
    assert sorted(results) == ["TH-1001.finish.json", "TH-1001.start.json", "TH-1002.cancel.json"]
    assert results["TH-1001.finish.json"]["tracking"]["number"] == "1Z999"
    assert results["TH-1002.cancel.json"]["reason"] == "out of stock"
    assert names(root / "results") == sorted(results)  # no temporary file left visible
    assert source.get_order("TH-1002").status == "cancelled"
    assert [o.uid for o in pull(source, active=True)[0]] == []


def test_a_result_the_partner_already_has_is_kept_and_read_back(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    partner.drop(1)
    pull(source)
    mine = root / "results" / "TH-1001.cancel.json"
    mine.write_text('{"written": "before"}\n')
    assert source.get_order("TH-1001").status == "cancelled"  # the read-back sees it
    order = source.push_step("TH-1001", "cancel", reason="r", idempotency_key="k", payload=None)
    assert order.status == "cancelled" and mine.read_text() == '{"written": "before"}\n'


def test_plan_push_from_each_status() -> None:
    source = FolderSource("/nowhere")
    plan = source.plan_push
    assert plan(Action.START, "open").steps == ("start",)
    assert plan(Action.START, "started").done
    assert plan(Action.START, "cancelled").stale
    assert plan(Action.FINISH, "open").steps == ("start", "finish")
    assert plan(Action.FINISH, "started").steps == ("finish",)
    assert plan(Action.FINISH, "finished").done and plan(Action.FINISH, "cancelled").stale
    assert plan(Action.CANCEL, "started").steps == ("cancel",)
    assert plan(Action.CANCEL, "finished").stale and plan(Action.CANCEL, "cancelled").done
    assert plan(Action.HOLD, "open").steps == ()


def test_an_order_not_in_the_folder_is_refused_and_a_missing_folder_is_offline(
    source: FolderSource, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError, match="not in the drop folder"):
        source.get_order("NOPE-1")
    from rxfloor.core.sources.base import UnreachableError

    with pytest.raises(UnreachableError, match="is not there"):
        pull(FolderSource(tmp_path / "unmounted"))


def test_temporary_files_a_crash_left_are_swept_once_old(root: Path, partner: Partner) -> None:
    FolderSource(root, settle_s=0.0).take()  # the folders exist
    old, new = root / "results" / ".A-1.start.json.1a2b.tmp", root / "orders" / ".A-2.json.3c.tmp"
    old.write_text("{")
    new.write_text("{")
    os.utime(old, (1, 1))
    pull(FolderSource(root, settle_s=0.0))
    assert not old.exists() and new.exists()


def test_a_hand_off_is_one_picked_up_result_file_after_the_finish(
    source: FolderSource, partner: Partner, root: Path
) -> None:
    """Issue 24 §3: the partner learns a pickup order was collected from
    ``<order>.picked_up.json``; it refuses one for an order it was never told finished."""
    partner.drop(2)
    pull(source)
    assert source.plan_push(Action.HANDOFF, "started").stale  # not finished there
    for step in source.plan_push(Action.FINISH, "open").steps:
        source.push_step("TH-1001", step, reason=None, idempotency_key=step, payload=None)
    plan = source.plan_push(Action.HANDOFF, "finished")
    assert plan.steps == ("picked_up",)
    picked = {"picked_up": {"at": "2026-12-07T10:00:00+00:00", "by": "AB"}}
    order = source.push_step("TH-1001", "picked_up", reason=None, idempotency_key="k9",
                             payload=picked)  # fmt: skip
    assert (order.status, order.board_status) == ("picked_up", Status.FINISHED)
    assert source.plan_push(Action.HANDOFF, order.status).done  # a repeat sends nothing
    assert source.plan_push(Action.CANCEL, order.status).stale
    results = partner.read_results()
    assert results["TH-1001.picked_up.json"]["picked_up"]["by"] == "AB"
    assert partner.refused == []
    source.push_step("TH-1002", "picked_up", reason=None, idempotency_key="k10", payload=None)
    partner.read_results()
    assert partner.refused == ["TH-1002.picked_up.json: TH-1002 was never finished"]
