"""The soak's ledger (tests/soak/ledger.py): which differences an outage explains."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from tests.soak.cdr_csv import Row
from tests.soak.faults import schedule
from tests.soak.ledger import compare, findings, in_a_dial, in_outage, unseen
from tests.soak.main import kinds
from tests.soak.world import Bridge

KEYS = ["channel", "dstchannel", "lastapp", "lastdata", "start", "answer", "end", "billsec"]


def at(text: str) -> float:
    return (
        datetime.strptime(f"2026-12-06 {text}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    )


def dial(local: str, phone: str, answer: str, end: str) -> Row:
    values = [local, phone, "Dial", "PJSIP/x", "2026-12-06 18:57:07", answer, end, "4"]
    return Row("node2", dict(zip(KEYS, values, strict=True), disposition="ANSWERED", linkedid="x"))


CALL = [  # 410 -> 412 placed through a Local channel: both rows carry the caller's answer
    dial("Local/s@uapi-source-1;2", "PJSIP/410-1", "2026-12-06 18:57:07", "2026-12-06 18:57:12"),
    dial("Local/s@uapi-source-1;1", "PJSIP/412-2", "2026-12-06 18:57:07", "2026-12-06 18:57:12"),
]
OUTAGE = (at("18:57:10") + 0.1, at("18:57:13") + 0.1)  # B killed while A was cut off


def test_an_end_and_an_answer_in_an_outage_are_explained() -> None:
    """Seed 2027: the call ended while neither bridge saw node 2, and 412's leg was up when
    the outage began (its answer may have come then)."""
    outage = in_outage(CALL, [OUTAGE])
    assert outage == OUTAGE
    assert unseen("410 ended -8 s from Asterisk's", CALL, outage)
    assert unseen("412 answered True != False", CALL, outage)


def test_what_an_outage_does_not_explain() -> None:
    outage = in_outage(CALL, [OUTAGE])
    assert not unseen("412 answered False != True", CALL, outage)  # the bridge invented one
    assert not unseen("parties ['410'] != []", CALL, outage)
    assert not unseen("412 answered True != False", CALL, None)  # no outage: a bridge bug
    early = [
        dial("Local/s@uapi-source-1;1", "PJSIP/412-2", "2026-12-06 18:57:01", "2026-12-06 18:57:05")
    ]
    assert not unseen("412 answered True != False", early, outage)  # over before it began
    assert in_outage(early, [OUTAGE]) is None


def test_a_leg_hung_up_before_its_dial_never_rang() -> None:
    """Seed 2027, 20 minutes: node 2 shut down while 411's leg ran its pre-dial subroutine."""
    never = Row(
        "node2",
        dict(
            zip(KEYS, ["PJSIP/411-3", "", "Return", "", "", "", "", "0"], strict=True),
            disposition="NO ANSWER",
            linkedid="x",
        ),
    )
    assert in_a_dial([*CALL, never]) == {"410", "412"}


def test_a_planned_party_never_dialled_balances_when_unanswered() -> None:
    """Seed 2027: make-call 410 -> 411, 410 did not answer, 411 was never dialled; the record
    has both planned parties (as documented), 411 unanswered."""
    theirs = {"410": {"answered": False, "end": 0.0}}
    ours = {
        p: {"answered": False, "end": 0.0, "duration": 0, "talk_from": 0.0, "call_answered": False}
        for p in ("410", "411")
    }
    assert compare(theirs, ours, {"410", "411"}) == []
    assert compare(theirs, ours, set()) == ["parties ['410'] != ['410', '411']"]
    ours["411"]["answered"] = True  # a planned party the bridge says answered: not explained
    assert compare(theirs, ours, {"410", "411"}) != []


def test_the_table_ends_with_what_a_line_that_does_not_balance_found() -> None:
    report = {
        "lines": {
            "cdr: parties, disposition, duration agree": False,
            "webhooks: none unexpected": True,
            "list: ended calls gone": False,
        },
        "cdr": {
            "differ": {
                "count": 5,
                "first": [
                    {
                        "id": f"call{i}",
                        "node": "node1",
                        "problems": [f"0003*024 ended +{i} s from Asterisk's"],
                        "bridge": ["extension=0003*024 duration=3"],
                    }
                    for i in range(4)
                ],
            }
        },
        "webhooks": {"unexpected": []},
        "list_ended": ["abc"],
    }
    lines = findings(report)
    assert lines[1] == "NOT BALANCED  cdr: parties, disposition, duration agree: 5"
    assert "  id=call0 node=node1" in lines
    assert "    problems: 0003*024 ended +2 s from Asterisk's" in lines
    assert not any("call3" in line for line in lines)
    assert "  ... 2 more in the JSON" in lines
    assert lines[-2:] == ["NOT BALANCED  list: ended calls gone: 1", "  abc"]
    assert not any("webhooks" in line for line in lines)


def test_faults_picks_kinds_of_the_same_schedule() -> None:
    every = schedule(2027, 4)
    some = schedule(2027, 4, ("cut_ami", "restart_pg"))
    assert some == [f for f in every if f.kind in ("cut_ami", "restart_pg")]
    assert len(some) == 8
    assert schedule(2027, 4, kinds("none")) == []
    assert kinds("cut_ami, restart_pg") == ("cut_ami", "restart_pg")
    with pytest.raises(argparse.ArgumentTypeError, match="kill_node"):
        kinds("cut_ami,kill_node")


def test_rss_of_the_longest_life_and_of_its_last_ten_minutes() -> None:
    bridge = Bridge("a", cast(Any, None))
    bridge.rss = [(7, 0.0, 50_000), (8, 10.0, 60_000)]  # pid 7 restarted as 8
    bridge.rss += [(8, 10.0 + 60 * m, 60_000 + 1_000 * min(m, 5)) for m in range(1, 16)]
    life = bridge.longest_life()
    assert (life["minutes"], life["first_kib"], life["last_kib"]) == (15.0, 60_000, 65_000)
    assert life["growth_pct"] == 8.3
    assert life["last_10_min_pct"] == 0.0  # grown in its first 5 minutes only
    bridge.rss = bridge.rss[:8]
    assert "last_10_min_pct" not in bridge.longest_life()  # lived 7 minutes
