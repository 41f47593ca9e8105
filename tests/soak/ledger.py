"""The ledger: Asterisk's CDR against the bridge's call history, the webhooks each registration
should have had against what the receivers got, the outbox, List against the streams; and the
generator's own account, which voids the run when it does not add up."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bridge.domain.callids import phone_call_id
from tests.conftest import ADMIN
from tests.soak.cdr_csv import Row, by_call, far_half, trunk_legs
from tests.soak.load import Generator
from tests.soak.observers import Receiver, StreamClient
from tests.soak.world import Api, Bridge, rss_kib

SAMPLE = 8  # mismatches shown per line


def short(number: str) -> str:
    return number.split("*", 1)[-1]


async def bridge_cdr(api: Api, bridge: Bridge, since: float) -> dict[str, Any]:
    """Every history record from `since` on (the admin app sees every organization)."""
    start = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    records: dict[str, Any] = {}
    index = 0
    while True:
        status, answer = await api.request(
            bridge,
            "GET",
            f"/uapi/cdr?startDate={start}&count=5000&startIndex={index}&sortOrder=ascending",
            ADMIN,
            wait=60,
        )
        if status != 200:
            break
        records.update(answer["entry"])
        index += len(answer["entry"])
        if not answer["entry"] or index >= int(answer["totalResults"]):
            break
    return records


def asterisk_parties(group: list[Row]) -> dict[str, dict[str, Any]]:
    """party -> {answered, end} from the call's CDR rows (end: when its last row ended)."""
    parties: dict[str, dict[str, Any]] = {}
    dialled = trunk_legs(group)
    for row in group:
        for key in ("channel", "dstchannel"):
            party = row.endpoint(key, dialled)
            if not party or party.startswith("trunk:"):
                continue
            seen = parties.setdefault(party, {"answered": False, "end": 0.0})
            seen["end"] = max(seen["end"], row.at("end"))
            if row["disposition"] == "ANSWERED" and row["answer"]:
                seen["answered"] = True
    return parties


def dials(group: list[Row]) -> list[tuple[Row, str, str]]:
    """A call's Dial rows, each with its caller and its callee (`Row.endpoint`)."""
    legs = trunk_legs(group)
    return [
        (row, row.endpoint("channel", legs), row.endpoint("dstchannel", legs))
        for row in group
        if row["lastapp"] == "Dial"
    ]


def in_a_dial(group: list[Row]) -> set[str]:
    """The parties of a call's Dial rows (the dialling and the dialled). A leg Asterisk made
    and hung up before its Dial (found by the 20-minute soak, seed 2027: node 2 shutting down
    hung up 411's new leg inside its pre-dial subroutine, a row of its own with lastapp
    Return) never rang: it implies no webhook, and the bridge, which names a leg at its Dial,
    fires none."""
    return {
        party
        for _, caller, callee in dials(group)
        for party in (caller, callee)
        if party and not party.startswith("trunk:")
    }


def bridge_parties(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """party -> {answered, end, duration, talk_from} from a history record."""
    parties: dict[str, dict[str, Any]] = {}
    for view in record.get("phoneCallView", []):
        parties[short(view.get("extension", ""))] = {
            "answered": view.get("disposition") == "0",
            "end": parse_time(view.get("ended", "")),
            "duration": int(view.get("duration") or 0),
            "talk_from": max(
                parse_time(record.get("answered", "")), parse_time(view.get("answered", ""))
            ),
            "call_answered": bool(record.get("answered")),
        }
    return parties


def compact(row: Row) -> str:
    return " ".join(
        row[k]
        for k in (
            "channel",
            "dstchannel",
            "lastapp",
            "lastdata",
            "start",
            "answer",
            "end",
            "billsec",
            "disposition",
        )
    )


def views(record: dict[str, Any]) -> list[str]:
    return [
        " ".join(
            f"{k}={v.get(k)}"
            for k in (
                "extension",
                "source",
                "destination",
                "answered",
                "ended",
                "duration",
                "disposition",
            )
        )
        for v in record.get("phoneCallView", [])
    ]


Window = tuple[float, float]


def blind(faults: list[Any], t0_wall: float) -> dict[str, list[Window]]:
    """Per node, when no bridge could see its events: node 2 restarting (Asterisk hangs its
    calls up after it closed AMI), or bridge A's link to it cut or A killed while bridge B was
    killed too. A call that ended then is recorded when a bridge is back (docs/api.md, call history:
    with what was known), so its end and duration are the bridge's best, not Asterisk's."""

    def spans(kind: str, target: str = "") -> list[Window]:
        return [
            (t0_wall + f.started, t0_wall + f.ended)
            for f in faults
            if f.kind == kind and (not target or f.target == target)
        ]

    out: dict[str, list[Window]] = {}
    for node in ("node1", "node2"):
        a_away = spans("cut_ami", node) + spans("kill_bridge", "a")
        both = [
            (max(a[0], b[0]), min(a[1], b[1]))
            for a in a_away
            for b in spans("kill_bridge", "b")
            if max(a[0], b[0]) < min(a[1], b[1])
        ]
        out[node] = both + (spans("restart_node2") if node == "node2" else [])
    return out


def in_outage(group: list[Row], outages: list[Window]) -> Window | None:
    """The outage (`blind`) in which Asterisk ended the call, if it ended while no bridge could
    see its node."""
    end = max(r.at("end") for r in group)
    return next(((a, b) for a, b in outages if a - 1 <= end <= b + 1), None)


LAST_MOMENT = 2.0  # seconds before an outage whose facts a SIGKILL may take with it


def unseen(problem: str, group: list[Row], outage: Window | None) -> bool:
    """Whether a problem is one the outage the call ended in explains: its end or a talk time
    (nobody saw the end), or a party's answer that may have come while nobody watched: the
    party's leg was still up when the outage began (Asterisk's CDR cannot say when it answered:
    for a make-call's destination its answer column is the Local leg's, i.e. the caller's).
    The LAST_MOMENT before the outage counts as in it: the last bridge watching was SIGKILLed,
    and a bridge writes its history in batches, so the kill takes what it had just seen."""
    if outage is None:
        return False
    if " ended " in problem or " duration " in problem:
        return True
    party, _, rest = problem.partition(" answered ")
    if rest != "True != False":
        return False
    legs = trunk_legs(group)
    return any(
        r.at("answer") <= outage[1] + 1 and r.at("end") >= outage[0] - LAST_MOMENT
        for r in group
        if r["answer"] and party in (r.endpoint("channel", legs), r.endpoint("dstchannel", legs))
    )


def cdr_lines(
    groups: dict[tuple[str, str], list[Row]],
    records: dict[str, Any],
    placed: dict[str, Any],
    outages: dict[str, list[Window]],
) -> dict[str, Any]:
    """The CDR accounts, from the nodes' CDR rows grouped by call (`cdr_csv.by_call`)."""
    matched, missing, differ, far, restarted = 0, [], [], 0, []
    expected_ids: set[str] = set()
    for (node, linkedid), group in groups.items():
        if far_half(group):
            far += 1
            continue
        call_id = phone_call_id(linkedid, "" if node == "node1" else node)
        expected_ids.add(call_id)
        record = records.get(call_id)
        if record is None:
            missing.append(
                {
                    "node": node,
                    "linkedid": linkedid,
                    "id": call_id,
                    "placed": placed.get(call_id),
                    "asterisk": [compact(r) for r in group],
                }
            )
            continue
        theirs, ours = asterisk_parties(group), bridge_parties(record)
        plan = placed.get(call_id) or {}
        planned = {short(plan.get(k, "")) for k in ("source", "destination")}
        problems = compare(theirs, ours, planned if plan.get("kind") == "api" else set())
        outage = in_outage(group, outages.get(node, []))
        if problems and all(unseen(p, group, outage) for p in problems):
            restarted.append({"id": call_id, "node": node, "problems": problems})
        elif problems:
            differ.append(
                {
                    "id": call_id,
                    "node": node,
                    "problems": problems,
                    "placed": placed.get(call_id),
                    "asterisk": [compact(r) for r in group],
                    "bridge": views(record),
                }
            )
        else:
            matched += 1
    extra = sorted(set(records) - expected_ids)
    return {
        "asterisk_calls": len(expected_ids),
        "far_halves": far,
        "matched": matched,
        "ended_unseen": restarted,
        "missing": missing,
        "differ": differ,
        "extra": [{"id": i, "placed": placed.get(i), "bridge": views(records[i])} for i in extra],
    }


def compare(
    theirs: dict[str, dict[str, Any]],
    ours: dict[str, dict[str, Any]],
    planned: set[str] | None = None,
) -> list[str]:
    """Same parties; each answered or not alike; each left within 1 s of its last CDR row's
    end; and its talk time (the bridge's duration) within 1 s of that end minus the moment
    the call was answered. Asterisk's CDR of a call placed through a Local channel counts
    billsec from the first leg's answer, ringback included: the moment the destination
    answered is not in it, so that moment is the bridge's; and a call the destination never
    answered (hung up while ringing) has a caller answered in the CDR who talked 0 s."""
    problems = []
    if not theirs:  # failed before any phone rang (e.g. a node just back): the API's plan
        return [f"{p} answered, Asterisk rang nobody" for p, b in ours.items() if b["answered"]]
    # a make-call's planned party that Asterisk never dialled (the call failed before it: the
    # source did not answer, or its node went down) is in the record, unanswered, as documented
    unrung = {
        p for p in set(ours) - set(theirs) if p in (planned or ()) and not ours[p]["answered"]
    }
    if set(theirs) != set(ours) - unrung:
        problems.append(f"parties {sorted(theirs)} != {sorted(ours)}")
    for party in sorted(set(theirs) & set(ours)):
        a, b = theirs[party], ours[party]
        if a["answered"] != b["answered"]:
            problems.append(f"{party} answered {a['answered']} != {b['answered']}")
            continue
        if abs(a["end"] - b["end"]) > 1:
            problems.append(f"{party} ended {a['end'] - b['end']:+.0f} s from Asterisk's")
        elif b["answered"] and not b["call_answered"]:  # the caller heard ringing only
            if b["duration"]:
                problems.append(f"{party} duration {b['duration']} s in a call nobody answered")
        elif b["answered"] and b["talk_from"]:
            talk = a["end"] - b["talk_from"]
            if abs(talk - b["duration"]) > 1:
                problems.append(f"{party} duration {b['duration']} s, Asterisk {talk:.0f} s")
    return problems


def expected_hooks(
    records: dict[str, Any], registered: list[str], rang: dict[str, set[str]]
) -> set[tuple[str, str]]:
    """(registration path, call id) pairs the records say should have been delivered: for
    the parties Asterisk had a leg for (`rang`: call id -> parties, for the calls in its CDR;
    a planned party of a make-call that failed before it rang has a view but no event)."""
    want: set[tuple[str, str]] = set()
    regs = [path.strip("/").split("/") for path in registered]
    for call_id, record in records.items():
        for view in record.get("phoneCallView", []):
            ext = short(view.get("extension", ""))
            if call_id in rang and ext not in rang[call_id]:
                continue
            out = ext in {short(s) for s in view.get("source", [])}
            answered = view.get("disposition") == "0"
            kinds = {"DialOut" if out else "DialIn", "Hangup"}
            if answered:
                kinds.add("AnswerOut" if out else "AnswerIn")
            for receiver, reg_ext, kind in regs:
                if reg_ext == ext and kind in kinds:
                    want.add((f"/{receiver}/{reg_ext}/{kind}", call_id))
    return want


def dialled(groups: dict[tuple[str, str], list[Row]]) -> set[tuple[str, str, str]]:
    """(call id, extension, type) that Asterisk's own rows allow: a Dial row's caller dialled
    out (DialOut; AnswerOut if its own leg was answered, as the bridge fires it for a caller
    whose channel is up) and its callee was rung (DialIn; AnswerIn if answered). A party may
    be both in one call: 210, rung by 024 and then transferred to 025, is the caller of the
    Dial to 025 in Asterisk's CDR and in the webhooks of a bridge that found the call at a
    resync (nothing else tells it 210 was rung first), a destination in the call's record."""
    seen: set[tuple[str, str, str]] = set()
    for (node, linkedid), group in groups.items():
        call_id = phone_call_id(linkedid, "" if node == "node1" else node)
        parties = asterisk_parties(group)
        for row, caller, callee in dials(group):
            seen |= {(call_id, caller, "DialOut"), (call_id, callee, "DialIn")}
            if parties.get(caller, {}).get("answered"):
                seen.add((call_id, caller, "AnswerOut"))
            if row["disposition"] == "ANSWERED" and row["answer"]:
                seen.add((call_id, callee, "AnswerIn"))
    return seen


def webhook_lines(
    receivers: dict[str, Receiver],
    registered: list[str],
    records: dict[str, Any],
    rang: dict[str, set[str]],
    asterisk: set[tuple[str, str, str]],
) -> dict[str, Any]:
    ok = [h for r in receivers.values() for h in r.hits if 200 <= h.status < 300]
    got: dict[tuple[str, str], set[str]] = {}
    for hit in ok:
        got.setdefault((hit.path, hit.call_id), set()).add(hit.webhook_id)
    want = expected_hooks(records, registered, rang)
    twice = {f"{p} {c}": sorted(ids) for (p, c), ids in got.items() if len(ids) > 1}
    requests = sum(len(r.hits) for r in receivers.values())
    return {
        "expected": len(want),
        "delivered": len(set(got) & want),
        "missing": sorted(f"{p} {c}" for p, c in want - set(got)),
        "unexpected": sorted(
            f"{p} {c}"
            for p, c in set(got) - want
            if (c, *p.strip("/").split("/")[1:]) not in asterisk
        ),
        "duplicates": twice,
        "webhook_ids": len({h.webhook_id for h in ok}),
        "requests": requests,
        "acknowledged": len(ok),
    }


def stream_lines(
    streams: list[StreamClient], lists: dict[str, Any], ended: set[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for client in streams:
        view = sorted(client.calls)
        out[client.name] = {
            "final_view": view,
            "list": lists.get(client.name),
            "equal": view == lists.get(client.name),
            "ended_still_shown": sorted(set(view) & ended),
            "connects": client.connects,
            "resets": client.resets,
            "events": client.events,
        }
    return out


def build(
    *,
    gen: Generator,
    faults: list[Any],
    receivers: dict[str, Receiver],
    registered: list[str],
    cdr_rows: list[Row],
    records: dict[str, Any],
    outbox: dict[str, int],
    streams: list[StreamClient],
    lists: dict[str, Any],
    bridges: list[Bridge],
    seed: int,
    args: dict[str, Any],
    load_s: float,
    drain_s: float,
    t0_wall: float,
) -> dict[str, Any]:
    counts = gen.counts()
    placed = len(gen.placed)
    adds_up = placed == counts.get("answered", 0) + counts.get("failed", 0) + counts.get("cut", 0)
    placed_by_id = {
        p.call_id: {
            k: v
            for k, v in vars(p).items()
            if k in ("kind", "source", "destination", "extra", "outcome", "bridge")
        }
        for p in gen.placed
    }
    outages = blind(faults, t0_wall)
    groups = by_call(cdr_rows)
    cdr = cdr_lines(groups, records, placed_by_id, outages)
    rang = {
        phone_call_id(linkedid, "" if node == "node1" else node): in_a_dial(group)
        for (node, linkedid), group in groups.items()
        if not far_half(group)
    }
    hooks = webhook_lines(receivers, registered, records, rang, dialled(groups))
    ended = {p.call_id for p in gen.placed}
    live = stream_lines(streams, lists, ended)
    listed_ended = sorted(
        set().union(*(set(v) for v in lists.values() if isinstance(v, list))) & ended
    )
    lines = {
        "cdr: every Asterisk call has its record": not cdr["missing"],
        "cdr: parties, disposition, duration agree": not cdr["differ"],
        "cdr: no record Asterisk does not have": not cdr["extra"],
        "webhooks: every expected event delivered": not hooks["missing"],
        "webhooks: none unexpected": not hooks["unexpected"],
        "webhooks: one webhook-id per event": not hooks["duplicates"],
        "outbox: drained (nothing due, leased or given up)": not any(
            outbox.get(s) for s in ("pending", "sending", "failed")
        ),
        "list: ended calls gone": not listed_ended,
        "streams: final view equals List, ended calls gone": all(
            v["equal"] and not v["ended_still_shown"] for v in live.values()
        ),
    }
    delays = hook_delays(receivers, cdr_rows, records)
    acknowledged = hooks["acknowledged"]
    summary = {
        "calls_placed": placed,
        "outcomes": counts,
        "refused_before_placing": dict(gen.refused),
        "controls": dict(gen.controls),
        "faults_injected": len(faults),
        "faults": [vars(f) for f in sorted(faults, key=lambda f: f.started)],
        "max_webhook_delay_s": round(max(delays, default=0.0), 2),
        "deliveries_per_s": round(acknowledged / (load_s + drain_s), 2),
        "rss_kib": {
            b.name: {
                "start": b.rss_start,
                "end": rss_kib(b.daemon.proc.pid),
                "restarts": b.restarts,
                "longest_process": b.longest_life(),
            }
            for b in bridges
        },
        "load_s": load_s,
        "drain_s": round(drain_s, 1),
    }
    exit_code = 3 if not adds_up else 0 if all(lines.values()) else 1
    return {
        "seed": seed,
        "args": args,
        "exit": exit_code,
        "void": not adds_up,
        "lines": lines,
        "summary": summary,
        "cdr": trim(cdr),
        "webhooks": trim(hooks),
        "outbox": outbox,
        "streams": live,
        "list_ended": listed_ended,
        "records": {i: views(r) for i, r in records.items()},
    }


def hook_delays(
    receivers: dict[str, Receiver], cdr_rows: list[Row], records: dict[str, Any]
) -> list[float]:
    """Seconds from a call's end (the bridge's record) to each first Hangup delivery."""
    first: dict[tuple[str, str], float] = {}
    for receiver in receivers.values():
        for hit in receiver.hits:
            if hit.path.endswith("/Hangup") and 200 <= hit.status < 300:
                key = (hit.path, hit.call_id)
                first[key] = min(first.get(key, hit.at), hit.at)
    ends = {row_id: parse_time(rec.get("ended", "")) for row_id, rec in records.items()}
    return [at - ends[c] for (_, c), at in first.items() if ends.get(c)]


def parse_time(text: str) -> float:
    if not text:
        return 0.0
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def trim(section: dict[str, Any]) -> dict[str, Any]:
    """Lists cut to SAMPLE items, with their lengths kept."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, list | dict) and len(value) > SAMPLE:
            items = list(value.items())[:SAMPLE] if isinstance(value, dict) else value[:SAMPLE]
            out[key] = {
                "count": len(value),
                "first": dict(items) if isinstance(value, dict) else items,
            }
        else:
            out[key] = value
    return out


def table(report: dict[str, Any]) -> str:
    s = report["summary"]
    rows = [
        f"{'BALANCED' if ok else 'NOT BALANCED':13} {name}" for name, ok in report["lines"].items()
    ]
    counts = Counter(s["outcomes"])
    rows += [
        "",
        f"generator: placed {s['calls_placed']} = answered {counts['answered']} + "
        f"failed {counts['failed']} + cut {counts['cut']}"
        f"{'' if not report['void'] else '  -> VOID'} (unknown {counts['unknown']})",
        f"cdr: {report['cdr']['asterisk_calls']} Asterisk calls, {report['cdr']['matched']}"
        f" matched; far halves left out {report['cdr']['far_halves']}; ended while no bridge"
        f" saw the node (node 2 restarting, or both bridges away) {ended_by_restart(report)}",
        f"webhooks: expected {report['webhooks']['expected']}, delivered "
        f"{report['webhooks']['delivered']}, {report['webhooks']['requests']} requests, "
        f"{report['webhooks']['webhook_ids']} webhook-ids acknowledged",
        f"faults injected: {s['faults_injected']}; max webhook delay "
        f"{s['max_webhook_delay_s']} s; deliveries/s {s['deliveries_per_s']}",
        "rss KiB: "
        + ", ".join(
            f"{n} {v['start']} -> {v['end']} ({v['restarts']} restarts)"
            for n, v in s["rss_kib"].items()
        ),
        "rss of each bridge's longest-lived process: "
        + ", ".join(
            f"{n} {p.get('first_kib')} -> {p.get('last_kib')} KiB over {p.get('minutes')} min"
            f" ({p.get('growth_pct'):+} %"
            + (f"; its last 10 min {p['last_10_min_pct']:+} %" if "last_10_min_pct" in p else "")
            + ")"
            for n, v in s["rss_kib"].items()
            if (p := v["longest_process"])
        ),
        f"exit {report['exit']}",
    ]
    return "\n".join(rows + findings(report))


# where each line of the ledger keeps what it found (report section, key)
FOUND = {
    "cdr: every Asterisk call has its record": ("cdr", "missing"),
    "cdr: parties, disposition, duration agree": ("cdr", "differ"),
    "cdr: no record Asterisk does not have": ("cdr", "extra"),
    "webhooks: every expected event delivered": ("webhooks", "missing"),
    "webhooks: none unexpected": ("webhooks", "unexpected"),
    "webhooks: one webhook-id per event": ("webhooks", "duplicates"),
    "outbox: drained (nothing due, leased or given up)": ("outbox", ""),
    "list: ended calls gone": ("list_ended", ""),
    "streams: final view equals List, ended calls gone": ("streams", ""),
}
SHOWN = 3  # items printed under each line that does not balance


def findings(report: dict[str, Any]) -> list[str]:
    """What each line that does not balance found, its first SHOWN items a field a line: the
    end of the table, i.e. the end of what a CI log keeps when it clips the middle."""
    out: list[str] = []
    for name, ok in report["lines"].items():
        if ok or name not in FOUND:
            continue
        section, key = FOUND[name]
        found = report.get(section)
        if key and isinstance(found, dict):
            found = found.get(key)
        if isinstance(found, dict) and "first" in found and "count" in found:  # trimmed
            total, items = found["count"], list(found["first"])
        else:
            items = list(found.items()) if isinstance(found, dict) else list(found or [])
            total = len(items)
        out += ["", f"NOT BALANCED  {name}: {total}"]
        for item in items[:SHOWN]:
            out += [f"  {line}" for line in item_lines(item)]
        if total > SHOWN:
            out.append(f"  ... {total - SHOWN} more in the JSON")
    return out


def item_lines(item: Any) -> list[str]:
    """One finding: a dict's scalar fields on a line, each of its lists' elements on its own."""
    if isinstance(item, tuple):
        return [f"{item[0]}: {json.dumps(item[1], default=str)}"]
    if not isinstance(item, dict):
        return [str(item)]
    head = " ".join(f"{k}={v}" for k, v in item.items() if not isinstance(v, list | dict))
    lines = [head]
    for k, v in item.items():
        if isinstance(v, list):
            lines += [f"  {k}: {e}" for e in v]
        elif isinstance(v, dict):
            lines.append(f"  {k}: {json.dumps(v, default=str)}")
    return lines


def ended_by_restart(report: dict[str, Any]) -> int:
    value = report["cdr"]["ended_unseen"]
    return int(value["count"]) if isinstance(value, dict) else len(value)
