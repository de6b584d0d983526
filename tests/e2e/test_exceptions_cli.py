"""``rxfloor exceptions`` (issue 12): the same queue as the board's ``e``, and ``resolve``
with a note (real processes on a real SQLite file)."""

from __future__ import annotations

import json

from rxfloor.tui.cli.exit_codes import ExitCode
from tests.exceptions_fixtures import PHOTON, seed_queue
from tests.helpers import run_cli


def test_the_listing_resolve_and_its_refusals(sqlite_url: str) -> None:
    row_id = seed_queue(sqlite_url)
    listed = json.loads(run_cli(sqlite_url, "exceptions", "--json").stdout)
    assert [(i["kind"], i["order_name"], i["outbox_id"]) for i in listed] == [
        ("source status", "PH-9", None), ("parked move", "#2002", row_id),
        ("cancel request", "#2006", None), ("cancel request", "#2007", None)]  # fmt: skip
    assert listed[0]["actions"] == ["resolve", "open"]
    assert listed[0]["words"].startswith("Photon reports an error: [/]oops [bold]not markup\x1b")
    table = run_cli(sqlite_url, "exceptions").stdout.splitlines()
    assert table[0].split()[:5] == ["SINCE", "SOURCE", "ORDER", "KIND", "MOVE"]
    assert "␛[2J" in table[1] and "\x1b" not in "".join(table)  # controls shown, not sent
    assert table[2].split()[2:6] == ["Shopify", "#2002", "parked", "start"]
    assert table[-1] == "4 need a person"

    empty = run_cli(sqlite_url, "exceptions", "resolve", "PH-9", "--note", " ")
    assert empty.returncode == ExitCode.USAGE and "invalid note" in empty.stderr
    refused = run_cli(sqlite_url, "exceptions", "resolve", "#2006", "--note", "answered")
    assert refused.returncode == ExitCode.REFUSED
    assert refused.stderr.strip() == (
        "rxfloor: #2006 is not a source status in the queue "
        "(Shopify says IN_PROGRESS · request CANCELLATION_REQUESTED)"
    )
    unknown = run_cli(sqlite_url, "exceptions", "resolve", "#9999", "--note", "x")
    assert unknown.returncode == ExitCode.REFUSED and "does not exist" in unknown.stderr
    done = run_cli(sqlite_url, "--actor", "ZZ", "exceptions", "resolve", PHOTON,
                   "--note", "rerouted by Photon")  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "PH-9: Photon error resolved"
    after = json.loads(run_cli(sqlite_url, "exceptions", "--json").stdout)
    assert [i["order_name"] for i in after] == ["#2002", "#2006", "#2007"]
    history = json.loads(run_cli(sqlite_url, "history", PHOTON, "--json").stdout)
    assert (history[-1]["action"], history[-1]["actor"]) == ("resolve", "ZZ")


def test_an_empty_queue_says_so(sqlite_url: str) -> None:
    result = run_cli(sqlite_url, "exceptions")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "nothing needs a person"
    assert run_cli(sqlite_url, "exceptions", "--json").stdout.strip() == "[]"
