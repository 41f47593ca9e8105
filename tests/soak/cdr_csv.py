"""Asterisk's own call records: the rows cdr_csv appends to each node's Master.csv (with
`newcdrcolumns`, config/asterisk/cdr.conf), read from an offset and grouped by linkedid."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.system.conftest import Sandbox

LOGS = {
    "node1": "var/log/asterisk/cdr-csv/Master.csv",
    "node2": "var/log/asterisk-node2/cdr-csv/Master.csv",
}
COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
    "peeraccount",
    "linkedid",
    "sequence",
)
TRUNKS = ("node1", "node2", "trunk")


def master(node: str) -> Path:
    return Sandbox().root / LOGS[node]


def offsets() -> dict[str, int]:
    """Where each node's Master.csv ends now: the soak reads only what comes after."""
    return {node: master(node).stat().st_size if master(node).exists() else 0 for node in LOGS}


@dataclass
class Row:
    node: str
    fields: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def endpoint(self, key: str, legs: dict[str, str] | None = None) -> str:
        """The party a channel column names: PJSIP/210-0000001 -> 210; a trunk leg -> the
        number dialled through it (lastdata PJSIP/410@node2 -> 410); Local channels -> ''."""
        chan = self.fields[key]
        if not chan.startswith("PJSIP/"):
            return ""
        name = chan[6:].rsplit("-", 1)[0]
        if legs and chan in legs:  # a trunk leg after its dialler left (parked)
            return legs[chan]
        if name in TRUNKS:
            dialled = self.fields["lastdata"].split(",")[0]
            if key == "dstchannel" and "@" in dialled:
                return dialled.split("/", 1)[-1].split("@")[0]
            return f"trunk:{name}"
        return name

    def at(self, key: str) -> float:
        text = self.fields[key]
        return (
            datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
            if text
            else 0.0
        )


def rows(since: dict[str, int]) -> list[Row]:
    found = []
    for node in LOGS:
        path = master(node)
        if not path.exists():
            continue
        with path.open("rb") as fh:
            fh.seek(since.get(node, 0))
            text = fh.read().decode(errors="replace")
        for values in csv.reader(io.StringIO(text)):
            if len(values) == len(COLUMNS):
                found.append(Row(node, dict(zip(COLUMNS, values, strict=True))))
    return found


def by_call(found: list[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows grouped by (node, linkedid)."""
    calls: dict[tuple[str, str], list[Row]] = {}
    for row in found:
        calls.setdefault((row.node, row["linkedid"]), []).append(row)
    return calls


def trunk_legs(group: list[Row]) -> dict[str, str]:
    """Trunk channel -> the number it was dialled as, from the call's Dial rows."""
    return {
        r["dstchannel"]: r.endpoint("dstchannel")
        for r in group
        if r["dstchannel"].split("/")[-1].rsplit("-", 1)[0] in TRUNKS
        and not r.endpoint("dstchannel").startswith("trunk:")
    }


def far_half(group: list[Row]) -> bool:
    """The other node's half of a call through the trunk: every row starts on a trunk leg."""
    return all(r.endpoint("channel").startswith("trunk:node") for r in group)
