"""The 7621 report and the 接诉即办 rates — every formula in docs/metrics.md, here in one place.

The cases counted are those *accepted* on the local dates date_from..date_to (withdrawn and
merged ones excluded), optionally limited to a part of the grid tree. Each case is read
once into ``CaseFacts`` (two queries: the cases with their latest rating, and the events
that matter); a ``Row`` adds up facts; ``RATES`` says, for every rate, which count is
divided by which. A rate with nothing to divide is None (shown "—").
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, literal, select

from minsheng.clock import DEFAULT_TIMEZONE, to_local, utc_bounds, utcnow
from minsheng.enums import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    HANDLING_LABELS,
    CaseState,
    Category,
    Channel,
    GridLevel,
    Handling,
    Rating,
)
from minsheng.models import Case, CaseEvent, CaseRating, Grid

from . import limits
from .queries import overdue_condition

NOT_ACCEPTED = [CaseState.withdrawn, CaseState.merged]
DONE = {CaseState.resolved, CaseState.closed}
GOOD = {Rating.satisfied, Rating.basically_satisfied}
COUNTED_EVENTS = ["acknowledge", "resolve", "rate", "return", "urge", "request_extension",
                  "approve_extension", "refuse_extension", "cosign"]
NO_HANDLING = "none"

# rate name → (label, numerator count, denominator count). The one table of formulas.
RATES = {
    "closure_rate": ("办结率", "resolved", "accepted"),
    "response_rate": ("响应率", "responded", "due_for_ack"),
    "resolution_rate": ("解决率", "solved", "resolved"),
    "satisfaction_rate": ("满意率", "satisfied", "rated"),
    "ack_rate": ("签收率", "acknowledged", "accepted"),
    "on_time_rate": ("按时办结率", "on_time", "resolved"),
    "reopen_rate": ("重办率", "reopened", "ever_resolved"),
    "return_rate": ("退单率", "returned", "accepted"),
    "urge_rate": ("催办率", "urged", "accepted"),
    "extension_rate": ("延期率", "extended", "accepted"),
}
NEW_RATES = [name for name in RATES if name != "closure_rate"]
# The ranking score: response counts little, the resident's verdicts count most.
WEIGHTS = {"response_rate": 0.10, "resolution_rate": 0.45, "satisfaction_rate": 0.45}
UNIT_LEVELS = (("street", "街道"), ("community", "社区"), ("grid", "网格"))


@dataclass
class CaseFacts:
    """What the formulas need to know about one accepted case."""

    case_id: int
    category: str
    channel: str
    grid_id: int | None
    handling: str | None
    month: str
    done: bool  # resolved or closed now
    on_time: bool
    rating: str | None  # the latest rating
    acknowledged: bool = False
    responded: bool = False
    due_for_ack: bool = False
    ever_resolved: bool = False
    reopened: bool = False
    returned: bool = False
    urged: bool = False
    urged_auto: bool = False
    extension_requested: bool = False
    extended: bool = False
    cosigned: bool = False
    day: date | None = None  # local date accepted (the trend)
    assignee_id: int | None = None  # the current handler (the staff ranking)
    # the first 签收 deadline (_AckLimit); stats_rollup stores it for unacknowledged cases
    ack_limit: object = field(default=None, repr=False, compare=False)


@dataclass
class Row:
    key: str
    label: str
    accepted: int = 0
    resolved: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    solved: int = 0
    acknowledged: int = 0
    responded: int = 0
    due_for_ack: int = 0
    ever_resolved: int = 0
    reopened: int = 0
    returned: int = 0
    urged: int = 0
    urged_auto: int = 0
    extension_requested: int = 0
    extended: int = 0
    cosigned: int = 0

    def add(self, other: Row) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count(self, f: CaseFacts) -> None:
        self.add_mask(mask(f))

    def add_mask(self, bits: int, times: int = 1) -> None:
        """Add ``times`` cases whose counted facts are the bits of ``bits`` (see ``mask``)."""
        for index, name in enumerate(COUNTS):
            if bits >> index & 1:
                setattr(self, name, getattr(self, name) + times)

    def rate(self, name: str) -> float | None:
        _label, numerator, denominator = RATES[name]
        below = getattr(self, denominator)
        return getattr(self, numerator) / below if below else None

    @property
    def closure_rate(self) -> float | None:
        return self.rate("closure_rate")

    @property
    def satisfaction(self) -> float | None:
        return self.rate("satisfaction_rate")

    @property
    def on_time_rate(self) -> float | None:
        return self.rate("on_time_rate")

    def score(self) -> float | None:
        """The ranking score; None when one of its rates has nothing to divide."""
        values = {name: self.rate(name) for name in WEIGHTS}
        if any(v is None for v in values.values()):
            return None
        return sum(WEIGHTS[name] * values[name] for name in WEIGHTS)


COUNTS = [f.name for f in fields(Row) if f.name not in ("key", "label")]


def mask(f: CaseFacts) -> int:
    """Which counts one case adds to, as bits in the order of COUNTS. Cases with the same
    bits are tallied together, so a row adds up a few distinct masks, not every case."""
    good = f.rating in GOOD
    flags = {"accepted": True, "resolved": f.done, "on_time": f.done and f.on_time,
             "rated": f.rating is not None, "satisfied": good, "solved": f.done and good}
    bits = 0
    for index, name in enumerate(COUNTS):
        if flags.get(name, getattr(f, name, False)):
            bits |= 1 << index
    return bits


@dataclass
class Report:
    date_from: date
    date_to: date
    overall: Row
    by_category: list[Row] = field(default_factory=list)
    by_grid: list[Row] = field(default_factory=list)
    by_channel: list[Row] = field(default_factory=list)
    by_handling: list[Row] = field(default_factory=list)
    by_month: list[Row] = field(default_factory=list)
    units: dict[str, list[Row]] = field(default_factory=dict)  # street/community/grid rows
    by_day: list[Row] = field(default_factory=list)  # key: the local date, ISO
    by_staff: list[Row] = field(default_factory=list)  # key: the assignee's id


def _units(session) -> dict[int | None, dict[str, tuple[str, str]]]:
    """grid id → {level: (code, name)} of its street, community and grid (a micro-grid
    counts with its grid); ``None`` (not routed) → {"grid": ("-", "未分配")}."""
    grids = {g.id: g for g in session.execute(select(Grid)).scalars()}
    units: dict[int | None, dict[str, tuple[str, str]]] = {None: {"grid": ("-", "未分配")}}
    for grid_id in grids:
        node, found, seen = grids.get(grid_id), {}, set()
        while node is not None and node.id not in seen:
            seen.add(node.id)
            micro = GridLevel(node.level) == GridLevel.micro_grid
            if not (micro and node.parent_id in grids):
                found.setdefault("grid" if micro else str(node.level), (node.code, node.name))
            node = grids.get(node.parent_id)
        units[grid_id] = found
    return units


def cohort(date_from: date, date_to: date, tz: str, grid_ids: set[int] | None):
    """The WHERE clauses of the cases a report counts (accepted in the period, in scope)."""
    start, end = utc_bounds(date_from, date_to, tz)
    where = [Case.accepted_at >= start, Case.accepted_at < end,
             Case.state.notin_(NOT_ACCEPTED)]
    if grid_ids is not None:
        where.append(Case.grid_id.in_(sorted(grid_ids) or [-1]))
    return where


class _AckLimit:
    """The first 签收 deadline of one case, worked out only when a clock comparison cannot
    settle it: a working-time deadline is never earlier than start + its minutes, so an
    answer within that many clock minutes is in time and needs no calendar walk."""

    __slots__ = ("_due", "limit", "start", "tz")

    def __init__(self, limit: limits.Limit, start: datetime, tz: str):
        self.limit, self.start, self.tz, self._due = limit, start, tz, None

    def due(self) -> datetime:
        if self._due is None:
            self._due = self.limit.due(self.start, self.tz)
        return self._due

    def met_by(self, at: datetime) -> bool:
        return at - self.start <= timedelta(minutes=self.limit.minutes) or at <= self.due()

    def passed(self, now: datetime) -> bool:
        return now - self.start > timedelta(minutes=self.limit.minutes) and self.due() < now


def _ack_limits(session, tz: str):
    """(category, urgent, accepted_at) → the first 签收 deadline; limits read once per report."""
    known: dict[tuple, limits.Limit] = {}

    def deadline(category: Category, urgent: bool, accepted_at: datetime) -> _AckLimit:
        if (category, urgent) not in known:
            known[category, urgent] = limits.limits_for(session, category, urgent)[0]
        return _AckLimit(known[category, urgent], accepted_at, tz)
    return deadline


def _latest_rating():
    """The case's latest rating id: one index lookup per case (ix_case_ratings_case_id)
    rather than grouping the whole ratings table for every report."""
    return (select(func.max(CaseRating.id)).where(CaseRating.case_id == Case.id)
            .correlate(Case).scalar_subquery())


def read_facts(session, where, tz: str, now: datetime) -> dict[int, CaseFacts]:
    """Each case matching ``where`` read once into CaseFacts (its row, latest rating and the
    events that matter); the live report and the stored facts (stats_rollup) both use it."""
    rows = session.execute(
        select(Case.id, Case.category, Case.channel, Case.grid_id, Case.handling, Case.state,
               Case.accepted_at, Case.urgent, Case.resolved_on_time, CaseRating.value,
               Case.assignee_id)
        .outerjoin(CaseRating, CaseRating.id == _latest_rating()).where(*where))
    facts, offsets = {}, {}
    ack_limit = _ack_limits(session, tz)
    for (case_id, category, channel, grid_id, handling, state, accepted_at, urgent,
         on_time, rating, assignee_id) in rows:
        # The zone's offset per UTC hour (offsets change on the hour): one zone conversion
        # per hour of the period instead of one per case.
        hour = accepted_at.replace(minute=0, second=0, microsecond=0)
        if hour not in offsets:
            offsets[hour] = to_local(hour, tz).utcoffset()
        local = accepted_at + offsets[hour]
        facts[case_id] = CaseFacts(
            case_id, str(category), str(channel), grid_id, str(handling) if handling else None,
            f"{local.year:04d}-{local.month:02d}", CaseState(state) in DONE,
            bool(on_time), str(rating) if rating else None, day=local.date(),
            assignee_id=assignee_id)
        facts[case_id].ack_limit = ack_limit(Category(category), bool(urgent), accepted_at)
    # Each column only where its action needs it (签收: the time; 评价: the new state;
    # 催办: the data): the rest come back NULL and skip parsing dates and JSON.
    at = case((CaseEvent.action == "acknowledge", CaseEvent.at), else_=None)
    to_state = case((CaseEvent.action == "rate", CaseEvent.to_state), else_=None)
    data = case((CaseEvent.action == "urge", CaseEvent.data), else_=None)
    events = session.execute(
        select(CaseEvent.case_id, CaseEvent.action, at, to_state, data)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(*where, CaseEvent.action.in_(COUNTED_EVENTS)).order_by(CaseEvent.id))
    for case_id, action, at, to_state, data in events:
        _note_event(facts[case_id], action, at, to_state,
                    data if isinstance(data, dict) else {}, facts[case_id].ack_limit)
    for f in facts.values():
        f.ever_resolved = f.ever_resolved or f.done
        f.due_for_ack = f.acknowledged or f.ack_limit.passed(now)
    return facts


def _note_event(f: CaseFacts, action, at, to_state, data: dict, ack_limit: _AckLimit) -> None:
    if action == "acknowledge" and not f.acknowledged:
        f.acknowledged, f.responded = True, ack_limit.met_by(at)
    elif action == "resolve":
        f.ever_resolved = True
    elif action == "rate" and to_state == CaseState.reopened:
        f.reopened = True
    elif action == "return":
        f.returned = True
    elif action == "urge":
        if data.get("auto"):
            f.urged_auto = True
        else:
            f.urged = True
    elif action == "request_extension":
        f.extension_requested = True
    elif action == "approve_extension":
        f.extended = True
    elif action == "cosign":
        f.cosigned = True


# The breakdowns a report is built from: dimension → (key, bits) → cases. A case counts once
# in each; "staff" skips unassigned cases and "handling" the unfinished ones (assemble).
DIMENSIONS = ("category", "channel", "day", "grid", "staff", "handling")
RESOLVED_BIT = 1 << COUNTS.index("resolved")


def tally(facts) -> dict[str, Counter]:
    """Count the cases' masks along every dimension (the live path; services/stats_rollup.py
    counts the same from stored facts in SQL)."""
    counts: dict[str, Counter] = {name: Counter() for name in DIMENSIONS}
    for f in facts:
        bits = mask(f)
        for name, key in (("category", f.category), ("channel", f.channel), ("day", f.day),
                          ("grid", f.grid_id), ("staff", f.assignee_id),
                          ("handling", f.handling or NO_HANDLING)):
            counts[name][key, bits] += 1
    return counts


def report(uow, date_from: date, date_to: date, tz: str = DEFAULT_TIMEZONE,
           grid_ids: set[int] | None = None, now: datetime | None = None) -> Report:
    """Cases accepted on the local dates date_from..date_to (inclusive); ``grid_ids``
    limits them to those grid nodes (a user's part of the tree; None = everything)."""
    facts = read_facts(uow.session, cohort(date_from, date_to, tz, grid_ids), tz, now or utcnow())
    return assemble(uow.session, date_from, date_to, tally(facts.values()))


def _row_of(table: dict, key: str, label: str) -> Row:
    row = table.get(key)
    if row is None:
        row = table[key] = Row(key, label)
    return row


def assemble(session, date_from: date, date_to: date, counts: dict[str, Counter]) -> Report:
    """The report from the tallies of ``tally`` (or of the stored facts): every row adds up
    a few distinct masks, not every case."""
    units = _units(session)
    overall = Row("all", "全部")
    by_category = {c.value: Row(c.value, CATEGORY_LABELS[c]) for c in Category}
    by_channel = {c.value: Row(c.value, CHANNEL_LABELS[c]) for c in Channel}
    by_handling = {h.value: Row(h.value, HANDLING_LABELS[h]) for h in Handling}
    by_month: dict[str, Row] = {}
    by_day: dict[str, Row] = {}
    by_staff: dict[str, Row] = {}
    by_unit: dict[str, dict[str, Row]] = {level: {} for level, _ in UNIT_LEVELS}
    for (key, bits), times in counts["category"].items():
        overall.add_mask(bits, times)
        by_category[key].add_mask(bits, times)
    for (key, bits), times in counts["channel"].items():
        by_channel[key].add_mask(bits, times)
    for (day, bits), times in counts["day"].items():
        _row_of(by_day, str(day), str(day)).add_mask(bits, times)
        _row_of(by_month, str(day)[:7], str(day)[:7]).add_mask(bits, times)
    for (staff_id, bits), times in counts["staff"].items():
        if staff_id is not None:
            _row_of(by_staff, str(staff_id), str(staff_id)).add_mask(bits, times)
    for (key, bits), times in counts["handling"].items():
        if bits & RESOLVED_BIT:
            _row_of(by_handling, key, "未填写").add_mask(bits, times)
    for (grid_id, bits), times in counts["grid"].items():
        for level, (code, name) in units.get(grid_id, units[None]).items():
            if level in by_unit:
                _row_of(by_unit[level], code, name).add_mask(bits, times)
    ordered = {level: sorted(rows.values(), key=lambda r: r.key)
               for level, rows in by_unit.items()}
    return Report(date_from, date_to, overall, list(by_category.values()), ordered["grid"],
                  list(by_channel.values()), list(by_handling.values()),
                  sorted(by_month.values(), key=lambda r: r.key), ordered,
                  sorted(by_day.values(), key=lambda r: r.key),
                  sorted(by_staff.values(), key=lambda r: int(r.key)))


def ranked(rows: list[Row]) -> list[tuple[int | None, Row]]:
    """Best score first; equal scores share a rank (1, 1, 3); no score: rank None, last."""
    scored = sorted((r for r in rows if r.score() is not None),
                    key=lambda r: (-round(r.score(), 6), r.key))
    result, previous, rank = [], None, 0
    for position, row in enumerate(scored, start=1):
        if previous is None or round(row.score(), 6) != previous:
            rank, previous = position, round(row.score(), 6)
        result.append((rank, row))
    return result + [(None, r) for r in sorted(rows, key=lambda r: r.key)
                     if r.score() is None]


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def headline(row: Row) -> str:
    return (f"受理 {row.accepted} 件，办结 {row.resolved} 件，办结率 {pct(row.closure_rate)}，"
            f"满意度 {pct(row.satisfaction)}，按时办结率 {pct(row.on_time_rate)}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(width - _width(text), 0)
    return gap + text if right else text + gap


def _lines(title: str, header: list[str], labels: list[str], cells: list[list[str]],
           width: int = 11) -> list[str]:
    label_width = max([_width(label) for label in labels] + [8]) + 2
    widths = [max(width, _width(h) + 2) for h in header]
    lines = [f"【{title}】", _pad("", label_width)
             + "".join(_pad(h, w, True) for h, w in zip(header, widths))]
    for label, row in zip(labels, cells):
        lines.append(_pad(label, label_width)
                     + "".join(_pad(c, w, True) for c, w in zip(row, widths)))
    return lines


def _table(title: str, rows: list[Row]) -> list[str]:
    header = ["受理", "办结", "办结率", "满意度", "按时办结率"]
    return _lines(title, header, [r.label for r in rows],
                  [[str(r.accepted), str(r.resolved), pct(r.closure_rate), pct(r.satisfaction),
                    pct(r.on_time_rate)] for r in rows])


def _rates_table(title: str, rows: list[tuple[int | None, Row]]) -> list[str]:
    header = ["排名", "受理", *[RATES[n][0] for n in NEW_RATES]]
    return _lines(title, header, [r.label for _, r in rows],
                  [[str(rank or "—"), str(r.accepted), *[pct(r.rate(n)) for n in NEW_RATES]]
                   for rank, r in rows], width=9)


def format_report(rep: Report) -> str:
    lines = [f"民生说事 7621 受理处置统计（{rep.date_from:%Y-%m-%d} 至 {rep.date_to:%Y-%m-%d}）",
             headline(rep.overall), ""]
    for title, rows in (("按类别", rep.by_category), ("按网格", rep.by_grid),
                        ("按渠道", rep.by_channel), ("按处理方式（已办结）", rep.by_handling)):
        lines += _table(title, rows) + [""]
    lines += _rates_table("接诉即办指标 · 合计", [(None, rep.overall)]) + [""]
    for level, label in UNIT_LEVELS:
        lines += _rates_table(f"接诉即办指标 · {label}排名", ranked(rep.units[level])) + [""]
    lines += _rates_table("接诉即办指标 · 按月", [(None, r) for r in rep.by_month]) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _rate(value):
    return None if value is None else round(value, 4)


def _row_json(row: Row) -> dict:
    return {"key": row.key, "label": row.label,
            **{name: getattr(row, name) for name in COUNTS},
            "closure_rate": _rate(row.closure_rate), "satisfaction": _rate(row.satisfaction),
            **{name: _rate(row.rate(name)) for name in NEW_RATES}}


def _ranking_json(rows: list[tuple[int | None, Row]], level: str) -> list[dict]:
    return [{**_row_json(row), "level": level, "rank": rank, "score": _rate(row.score())}
            for rank, row in rows]


def report_json(rep: Report) -> dict:
    """A JSON-able dict; rates are fractions (0.988), None when there is nothing to divide."""
    resolved = rep.overall.resolved
    ranking: dict = {"weights": WEIGHTS}
    for level, _label in UNIT_LEVELS:
        ranking[level] = _ranking_json(ranked(rep.units[level]), level)
    ranking["month"] = _ranking_json(ranked(rep.by_month), "month")
    return {"from": rep.date_from.isoformat(), "to": rep.date_to.isoformat(),
            "headline": headline(rep.overall), "overall": _row_json(rep.overall),
            "by_category": [_row_json(r) for r in rep.by_category],
            "by_grid": [_row_json(r) for r in rep.by_grid],
            "by_channel": [_row_json(r) for r in rep.by_channel],
            **{name: _rate(rep.overall.rate(name)) for name in NEW_RATES},
            "by_handling_method": {
                r.key: {**_row_json(r), "share": _rate(r.resolved / resolved if resolved
                                                       else None)}
                for r in rep.by_handling},
            "ranking": ranking}


# --- Figures for the dashboard: counted in SQL, the rates still from ``Row`` / ``RATES`` ---

def previous_period(date_from: date, date_to: date) -> tuple[date, date]:
    """The period of the same length just before date_from..date_to."""
    days = (date_to - date_from).days + 1
    return date_from - timedelta(days=days), date_from - timedelta(days=1)


def case_rows(uow, date_from: date, date_to: date, tz: str = DEFAULT_TIMEZONE,
              grid_ids: set[int] | None = None, by=None) -> dict:
    """受理 / 办结 / 按时 / 评价 counts of the cohort grouped by one column of ``Case``
    (``by=None``: one row, key None). One GROUP BY query: no events are read, so only
    the rates made of these counts (办结率, 满意度, 按时办结率) are meaningful."""
    done = Case.state.in_(list(DONE))
    key = by if by is not None else literal(None)
    query = (select(key.label("key"), func.count(Case.id), func.sum(case((done, 1), else_=0)),
                    func.sum(case((and_(done, Case.resolved_on_time.is_(True)), 1), else_=0)),
                    func.count(CaseRating.id),
                    func.sum(case((CaseRating.value.in_(list(GOOD)), 1), else_=0)))
             .outerjoin(CaseRating, CaseRating.id == _latest_rating())
             .where(*cohort(date_from, date_to, tz, grid_ids)))
    if by is not None:  # PostgreSQL refuses GROUP BY a constant
        query = query.group_by(by)
    rows = {}
    for value, accepted, resolved, on_time, rated, satisfied in uow.session.execute(query):
        rows[value] = Row(str(value), str(value), accepted=accepted, resolved=resolved or 0,
                          on_time=on_time or 0, rated=rated, satisfied=satisfied or 0)
    return rows


def overdue_by_grid(uow, now: datetime, grid_ids: set[int] | None = None) -> dict:
    """Open cases past a deadline now (the case desk's 超时), counted per grid id. The scope
    is applied here, not in SQL: with it, planners walk the grid's every case instead of
    the few open ones (ix_cases_state_resolve_deadline)."""
    rows = uow.session.execute(select(Case.grid_id).where(overdue_condition(now))).scalars()
    counts = Counter(rows)
    return {g: n for g, n in counts.items() if grid_ids is None or g in grid_ids}
