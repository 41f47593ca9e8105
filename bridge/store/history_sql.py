"""The SQL of a call-history search: one WHERE for the page and the statistics.

When the search names one number exactly (`source=0003*210`), the scan runs over that
number's rows of `call_history_parties` (clustered by party, role, time: in page order, every
tested column on the row); otherwise over `call_history` by time. Every value is a `?`
parameter: only column names and placeholders are formatted into the text (hence the S608
noqa marks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLE_COLUMNS = {"source": "sources", "destination": "destinations"}


@dataclass(frozen=True)
class PartyFilter:
    """Calls with a party in `role` (source | destination) that matches `value`."""

    role: str
    op: str  # equals | startsWith | contains | inArray
    value: str


@dataclass(frozen=True)
class HistoryQuery:
    scope: frozenset[str] | None  # extension numbers a party must be one of; None: all
    at_from: float | None = None
    at_to: float | None = None
    saved_from: float | None = None
    saved_to: float | None = None
    parties: tuple[PartyFilter, ...] = ()
    disposition: int | None = None
    flow: int | None = None
    date_filter: tuple[str, str, float] | None = None  # (published|answered, op, time)
    count: int = 20
    start: int = 0
    descending: bool = True


@dataclass(frozen=True)
class Search:
    """FROM ... WHERE ... and its parameters; `t` is the alias the tests use."""

    sql: str
    params: list[Any]
    t: str
    order: str


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has(t: str, column: str, value: str, params: list[Any]) -> str:
    """`value` is one of the ",a,b," list in `column`."""
    params.append(f",{value},")
    return f"instr({t}.{column}, ?) > 0"


def _party_test(t: str, f: PartyFilter, params: list[Any]) -> str:
    column = ROLE_COLUMNS[f.role]
    if f.op in ("equals", "inArray"):
        values = [v for v in f.value.split(",") if v] if f.op == "inArray" else [f.value]
        return "(" + " OR ".join(_has(t, column, v, params) for v in values) + ")"
    params.append(f"%,{_like(f.value)}%" if f.op == "startsWith" else f"%{_like(f.value)}%")
    return f"{t}.{column} LIKE ? ESCAPE '\\'"


def _in_scope(t: str, scope: frozenset[str], params: list[Any]) -> str:
    """The call is charged to, or has a party among, the scope's extensions."""
    if not scope:
        return "1 = 0"
    marks = ",".join("?" * len(scope))
    params.extend(sorted(scope))
    tests = [f"{t}.extension IN ({marks})"]
    tests += [_has(t, c, e, params) for e in sorted(scope) for c in ROLE_COLUMNS.values()]
    return "(" + " OR ".join(tests) + ")"


def where(q: HistoryQuery) -> Search:
    params: list[Any] = []
    rest = list(q.parties)
    lead = next((f for f in rest if f.op == "equals"), None)
    if lead is not None:
        rest.remove(lead)
        t = "d"
        sql = "FROM call_history_parties d"
        if q.date_filter is not None:
            sql += " JOIN call_history h ON h.id = d.call_id"
        conds = ["d.party = ? AND d.role = ?"]
        params.extend([lead.value, lead.role])
    else:
        t, sql, conds = "h", "FROM call_history h", ["h.ended IS NOT NULL"]
    for column, value, op in (
        ("at", q.at_from, ">="),
        ("at", q.at_to, "<="),
        ("saved", q.saved_from, ">="),
        ("saved", q.saved_to, "<="),
    ):
        if value is not None:
            conds.append(f"{t}.{column} {op} ?")
            params.append(value)
    conds += [_party_test(t, f, params) for f in rest]
    for column, value in (("disposition", q.disposition), ("flow", q.flow)):
        if value is not None:
            conds.append(f"{t}.{column} = ?")
            params.append(value)
    if q.date_filter is not None:
        column, op, when = q.date_filter
        sign = {"equals": "=", "greaterThan": ">", "lessThan": "<"}[op]
        conds.append(f"h.{column} {sign} ?")
        params.append(when)
    lead_in_scope = lead is not None and q.scope is not None and lead.value in q.scope
    if q.scope is not None and not lead_in_scope:
        conds.append(_in_scope(t, q.scope, params))
    order = "d.at {0}, d.call_id {0}" if t == "d" else "h.at {0}, h.id {0}"
    return Search(f"{sql} WHERE {' AND '.join(conds)}", params, t, order)


def stats_sql(q: HistoryQuery, s: Search) -> tuple[str, list[Any]]:
    """(direction, disposition, count) rows: outgoing (1) when a source is in scope (any
    extension for an unscoped search), else incoming (0)."""
    params: list[Any] = []
    if q.scope is None:
        direction = f"{s.t}.src_ext"
    elif q.scope:
        direction = (
            "(" + " OR ".join(_has(s.t, "sources", e, params) for e in sorted(q.scope)) + ")"
        )
    else:
        direction = "0"
    sql = f"SELECT {direction} AS direction, {s.t}.disposition, COUNT(*) {s.sql} GROUP BY 1, 2"
    return sql, [*params, *s.params]


def page_sql(q: HistoryQuery, s: Search) -> tuple[str, list[Any]]:
    """The page's record bodies, newest (or oldest) first."""
    join = " JOIN call_history h ON h.id = d.call_id" if s.t == "d" and " h " not in s.sql else ""
    frm, _, rest = s.sql.partition(" WHERE ")
    order = s.order.format("DESC" if q.descending else "ASC")
    sql = f"SELECT h.body {frm}{join} WHERE {rest} ORDER BY {order} LIMIT ? OFFSET ?"
    return sql, [*s.params, q.count, q.start]
