"""Persistent entities of the case domain (SQLAlchemy 1.4, 2.0 style).

Schema changes go through Alembic (``minsheng/migrations``); ``create_all`` is for tests only.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import declarative_base, relationship

from minsheng.enums import (
    ActorType,
    CaseState,
    Category,
    Channel,
    EscalationLevel,
    FeedbackRoute,
    GridLevel,
    Handling,
    Rating,
    StaffRole,
)

Base = declarative_base()


def _enum(cls):
    # Stored as plain strings (no native PG enum) so adding a value needs no type migration.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Grid(Base):
    """A node of the grid tree: district → street → community → grid → micro_grid."""

    __tablename__ = "grids"
    id = Column(Integer, primary_key=True)
    code = Column(String(32), unique=True, nullable=False)  # 网格编码
    name = Column(String(100), nullable=False)
    level = Column(_enum(GridLevel), nullable=False)
    parent_id = Column(Integer, ForeignKey("grids.id"), index=True)
    xiaoqu = Column(JSON, nullable=False, default=list)  # 小区 names covered
    buildings = Column(JSON, nullable=False, default=list)  # "小区:楼栋" or "楼栋" covered
    # Other names residents use: "别名=小区" (老纺织宿舍=幸福里小区), and landmarks or roads
    # that stand for this grid (菜市场, 实验小学, 建设路). Read by routing and minsheng.place_lexicon.
    aliases = Column(JSON, default=list)
    landmarks = Column(JSON, default=list)
    polygon = Column(JSON)  # [[lat, lon], ...] optional
    lat = Column(Float)
    lon = Column(Float)

    parent = relationship("Grid", remote_side=[id], backref="children")


class Staff(Base):
    __tablename__ = "staff"
    id = Column(Integer, primary_key=True)
    name = Column(String(50), nullable=False)
    public_name = Column(String(50), nullable=False)  # as shown on the 公示牌
    role = Column(_enum(StaffRole), nullable=False)
    grid_id = Column(Integer, ForeignKey("grids.id"), nullable=False, index=True)
    telegram_user_id = Column(BigInteger, unique=True)
    duty_phone = Column(String(20))
    on_duty = Column(Boolean, nullable=False, default=True)
    active = Column(Boolean, nullable=False, default=True)

    grid = relationship("Grid")


class Resident(Base):
    __tablename__ = "residents"
    id = Column(Integer, primary_key=True)
    display_name = Column(String(100))
    phone = Column(String(20))  # stored in full, always shown masked
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)

    identities = relationship("ResidentIdentity", back_populates="resident")


class ResidentIdentity(Base):
    """One identity per channel (a Telegram user id, a web-chat session id, a phone)."""

    __tablename__ = "resident_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id = Column(Integer, primary_key=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False, index=True)
    channel = Column(_enum(Channel), nullable=False)
    external_id = Column(String(100), nullable=False)
    # Set when the channel said this person cannot be reached (they blocked the bot);
    # cleared when they write again. Notices are not queued to an unreachable identity.
    unreachable_at = Column(DateTime)

    resident = relationship("Resident", back_populates="identities")


class CaseCounter(Base):
    """Daily sequence for case numbers MS-YYYYMMDD-NNNN (row-locked when incremented)."""

    __tablename__ = "case_counters"
    day = Column(String(8), primary_key=True)
    last = Column(Integer, nullable=False, default=0)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_state_category", "state", "category"),
        Index("ix_cases_accepted_at", "accepted_at"),
        Index("ix_cases_grid_id_accepted_at", "grid_id", "accepted_at"),  # scoped periods
        Index("ix_cases_accepted_at_state", "accepted_at", "state"),  # the report's cohort
        Index("ix_cases_state_resolve_deadline", "state", "resolve_deadline"),  # 超时
        Index("ix_cases_category_accepted_at", "category", "accepted_at"),  # drill-downs
        Index("ix_cases_channel_accepted_at", "channel", "accepted_at"),
    )
    id = Column(Integer, primary_key=True)
    case_no = Column(String(20), unique=True, nullable=False)
    idempotency_key = Column(String(200), unique=True)
    category = Column(_enum(Category), nullable=False)
    description = Column(Text, nullable=False)
    xiaoqu = Column(String(100))
    building = Column(String(50))
    unit = Column(String(50))
    room = Column(String(50))
    address = Column(String(300))  # the place as the resident wrote it
    lat = Column(Float)
    lon = Column(Float)
    channel = Column(_enum(Channel), nullable=False)
    urgent = Column(Boolean, nullable=False, default=False)
    # 匿名反映 (治安稳定、矛盾纠纷 only): the resident stays linked for notices and rating,
    # every staff view hides who they are (services.queries.view_of)
    anonymous = Column(Boolean, nullable=False, default=False, server_default=false())
    state = Column(_enum(CaseState), nullable=False, default=CaseState.new)
    handling = Column(_enum(Handling))
    level = Column(_enum(EscalationLevel), nullable=False, default=EscalationLevel.grid)
    grid_id = Column(Integer, ForeignKey("grids.id"), index=True)
    assignee_id = Column(Integer, ForeignKey("staff.id"), index=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), index=True)
    phone = Column(String(20))
    merged_into_id = Column(Integer, ForeignKey("cases.id"))
    accepted_at = Column(DateTime, nullable=False)
    ack_deadline = Column(DateTime)
    resolve_deadline = Column(DateTime)
    acknowledged_at = Column(DateTime)
    resolved_at = Column(DateTime)
    resolved_on_time = Column(Boolean)
    closed_at = Column(DateTime)
    rating_reminded_at = Column(DateTime)
    # automatic 催办 (services.urging): the resolve deadline the plan is for, when its
    # period started, the highest threshold sent (50 / 80 %) and when the next one is due
    urge_deadline = Column(DateTime)
    urge_from = Column(DateTime)
    urged_percent = Column(Integer)
    next_urge_at = Column(DateTime, index=True)
    version = Column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it

    grid = relationship("Grid")
    assignee = relationship("Staff")
    resident = relationship("Resident")
    events = relationship("CaseEvent", order_by="CaseEvent.id", back_populates="case")
    photos = relationship("CasePhoto", order_by="CasePhoto.id")
    rating = relationship("CaseRating", uselist=False, back_populates="case",
                          order_by="CaseRating.id.desc()")
    handling_departments = relationship("CaseHandlingDepartment",
                                        order_by="CaseHandlingDepartment.id")


class CaseFollower(Base):
    """Residents attached to a case besides its reporter (duplicates merged into it)."""

    __tablename__ = "case_followers"
    __table_args__ = (UniqueConstraint("case_id", "resident_id"),)
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False)


class ExtensionRequest(Base):
    """延期: the owner asks for more days with a reason; the next level up decides."""

    __tablename__ = "extension_requests"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    requested_by = Column(Integer, ForeignKey("staff.id"), nullable=False)
    requested_at = Column(DateTime, nullable=False)
    reason = Column(Text, nullable=False)
    days = Column(Integer, nullable=False)
    old_deadline = Column(DateTime)
    state = Column(String(16), nullable=False)  # pending | approved | refused
    decided_by = Column(Integer, ForeignKey("staff.id"))
    decided_at = Column(DateTime)
    new_deadline = Column(DateTime)
    decision_note = Column(Text)


class CaseCosigner(Base):
    """加签: a co-handling grid (its staff) or one staff member; they see the case and add
    progress notes, the lead owner closes it."""

    __tablename__ = "case_cosigners"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    grid_id = Column(Integer, ForeignKey("grids.id"))
    staff_id = Column(Integer, ForeignKey("staff.id"))
    added_by = Column(Integer, ForeignKey("staff.id"))
    added_at = Column(DateTime, nullable=False)


class CasePhoto(Base):
    __tablename__ = "case_photos"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    path = Column(String(300), nullable=False)
    added_by = Column(_enum(ActorType), nullable=False)
    added_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class CaseEvent(Base):
    """Append-only audit trail: one row per change (who, when, from, to, note)."""

    __tablename__ = "case_events"
    # Finds the follow-ups (同一问题又有反映) of a window for the hot spots without a scan.
    __table_args__ = (Index("ix_case_events_action_at", "action", "at"),)
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    at = Column(DateTime, nullable=False)
    actor_type = Column(_enum(ActorType), nullable=False)
    actor_id = Column(Integer)
    action = Column(String(32), nullable=False)
    from_state = Column(_enum(CaseState))
    to_state = Column(_enum(CaseState))
    note = Column(Text)
    data = Column(JSON)

    case = relationship("Case", back_populates="events")


class CaseRating(Base):
    __tablename__ = "case_ratings"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    value = Column(_enum(Rating), nullable=False)
    route = Column(_enum(FeedbackRoute), nullable=False)
    comment = Column(Text)
    recorded_by_staff_id = Column(Integer, ForeignKey("staff.id"))
    at = Column(DateTime, nullable=False)

    case = relationship("Case", back_populates="rating")


class TimeLimit(Base):
    """Configurable time limits; rows override the defaults of DESIGN.md."""

    __tablename__ = "time_limits"
    __table_args__ = (UniqueConstraint("category", "urgent"),)
    id = Column(Integer, primary_key=True)
    category = Column(_enum(Category), nullable=False)
    urgent = Column(Boolean, nullable=False, default=False)
    # amount + unit: minutes | hours (clock) | working_hours | working_days (services/limits.py)
    ack_amount = Column(Integer, nullable=False)
    ack_unit = Column(String(16), nullable=False, default="working_hours")
    resolve_amount = Column(Integer, nullable=False)
    resolve_unit = Column(String(16), nullable=False, default="working_days")


class Department(Base):
    """A functional department (职能部门) that 街道吹哨 calls in or 转办 hands a case to."""

    __tablename__ = "departments"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), unique=True, nullable=False)
    duty_phone = Column(String(20))
    active = Column(Boolean, nullable=False, default=True)


class CaseHandlingDepartment(Base):
    """The departments named when a case was resolved by 街道吹哨 or 转办."""

    __tablename__ = "case_handling_departments"
    __table_args__ = (UniqueConstraint("case_id", "department_id"),)
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    department_id = Column(Integer, ForeignKey("departments.id"), nullable=False)

    department = relationship("Department")


class RoutingRule(Base):
    """Category rules: inform (add) or replace the assignee with staff of a role."""

    __tablename__ = "routing_rules"
    id = Column(Integer, primary_key=True)
    category = Column(_enum(Category), nullable=False, index=True)
    action = Column(String(16), nullable=False)  # "inform" | "replace"
    staff_role = Column(_enum(StaffRole), nullable=False)
    active = Column(Boolean, nullable=False, default=True)


class OutboxMessage(Base):
    """Notifications to send; a failed send stays here and is retried, never lost."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"),)
    id = Column(Integer, primary_key=True)
    dedupe_key = Column(String(200), unique=True)
    channel = Column(_enum(Channel), nullable=False)
    recipient = Column(String(100), nullable=False)  # chat id, or staff:<id> / resident:<id>
    kind = Column(String(32), nullable=False)
    text = Column(Text, nullable=False)
    payload = Column(JSON)  # buttons, case_no, …
    created_at = Column(DateTime, nullable=False)
    next_attempt_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    sent_at = Column(DateTime)
    failed_at = Column(DateTime)  # gave up after too many attempts (still visible)
    last_error = Column(Text)


class OfferedButton(Base):
    """A button a channel showed a resident; a pressed payload is accepted only if offered."""

    __tablename__ = "offered_buttons"
    __table_args__ = (UniqueConstraint("channel", "resident_id", "payload"),)
    id = Column(Integer, primary_key=True)
    channel = Column(_enum(Channel), nullable=False)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False)
    payload = Column(String(500), nullable=False)
    title = Column(String(200), nullable=False)
    offered_at = Column(DateTime, nullable=False)


class InboundMessage(Base):
    """Every inbound channel update, stored before it is processed (dedupe by update id)."""

    __tablename__ = "inbound_messages"
    # The sender index finds the channel a resident last wrote on (notices go there).
    __table_args__ = (UniqueConstraint("channel", "external_id"),
                      Index("ix_inbound_sender_received", "sender", "received_at"))
    id = Column(Integer, primary_key=True)
    channel = Column(_enum(Channel), nullable=False)
    external_id = Column(String(64), nullable=False)  # Telegram update_id, web message id
    sender = Column(String(100))
    payload = Column(JSON, nullable=False)
    received_at = Column(DateTime, nullable=False)
    processed_at = Column(DateTime)
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    # No process takes the message before this time: the lease of a turn in progress
    # (renewed while it runs, so a killed process's lease runs out), or the back-off
    # of a message kept for retry.
    claimed_until = Column(DateTime)


class NluMessage(Base):
    """A resident message the classifier read: prediction, confidence, later correction."""

    __tablename__ = "nlu_messages"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False)
    channel = Column(_enum(Channel))
    sender = Column(String(100))
    text = Column(Text, nullable=False)
    predicted_label = Column(String(40), nullable=False)
    confidence = Column(Float, nullable=False)
    corrected_label = Column(String(40))
    corrected_by = Column(String(100))  # "resident" or "staff:<id>"
    corrected_at = Column(DateTime)
    case_id = Column(Integer, ForeignKey("cases.id"))
    exported_at = Column(DateTime)
    # minsheng.nlu_log.message_key of a resident's chat message: the report form finds the
    # row of its description by (sender, key) to record the resident's category choice.
    # Unique: Rasa replicas catching up on the same messages log each once (rows without a
    # key — staff intake, rows logged before keys — never collide: NULLs are distinct)
    message_key = Column(String(200))

    __table_args__ = (Index("uq_nlu_messages_sender_key", "sender", "message_key", unique=True),)


class WebUser(Base):
    """A console login: admin, street, community or grid staff (scope follows the grid)."""

    __tablename__ = "web_users"
    id = Column(Integer, primary_key=True)
    username = Column(String(50), unique=True, nullable=False)
    password_hash = Column(String(200), nullable=False)
    role = Column(String(16), nullable=False)  # admin | street | community | grid
    grid_id = Column(Integer, ForeignKey("grids.id"))  # scope; None for admin
    staff_id = Column(Integer, ForeignKey("staff.id"))
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class WebSession(Base):
    """A console login session, kept on the server so that logout and a password change
    end it everywhere, a copied cookie included. The cookie holds the token; only its
    SHA-256 is stored."""

    __tablename__ = "web_sessions"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), unique=True, nullable=False)
    user_id = Column(Integer, ForeignKey("web_users.id"), nullable=False, index=True)
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    revoked_at = Column(DateTime)
    address = Column(String(64))


class AuditEntry(Base):
    """Security-relevant events outside a case's own timeline: refused requests, logins,
    sessions revoked, personal data viewed, exported or erased."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, index=True)
    action = Column(String(40), nullable=False)
    actor = Column(String(100))  # "user:<id>", "resident:<id>", "cli", or None (anonymous)
    target = Column(String(200))
    detail = Column(Text)
    address = Column(String(64))


class ApiToken(Base):
    """A bearer token of the JSON API, acting as one console login (``minsheng token``).

    Only the SHA-256 of the token is stored; the token itself is shown once, at creation.
    """

    __tablename__ = "api_tokens"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("web_users.id"), nullable=False, index=True)
    token_hash = Column(String(64), unique=True, nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    revoked_at = Column(DateTime)


class HotspotAlert(Base):
    """A hot spot (services/hotspots.py) that reached the alert threshold and was told to
    its community, once. A later scan finding the same group again (a case in common,
    same category and place) sends nothing; the seed case makes two hosts scanning at
    once insert one row, not two."""

    __tablename__ = "hotspot_alerts"
    __table_args__ = (UniqueConstraint("category", "place_key", "seed_case_id"),)
    id = Column(Integer, primary_key=True)
    category = Column(_enum(Category), nullable=False)
    place_key = Column(String(120), nullable=False)
    place = Column(String(300), nullable=False)  # as shown to people
    seed_case_id = Column(Integer, ForeignKey("cases.id"), nullable=False)
    grid_id = Column(Integer, ForeignKey("grids.id"))
    reports = Column(Integer, nullable=False)
    case_nos = Column(JSON, nullable=False, default=list)
    staff_ids = Column(JSON, nullable=False, default=list)  # who was told
    alerted_at = Column(DateTime, nullable=False, index=True)


class CaseFact(Base):
    """What the 7621 report counts of one accepted case, kept by services/stats_rollup.py so
    that a period's figures are a few GROUP BY queries instead of reading every case and
    its events. ``mask`` holds the counts the case adds to (stats.mask) with 响应率's
    denominator as of 签收; ``ack_due`` (unacknowledged cases) adds it once passed."""

    __tablename__ = "case_facts"
    # every column: a period's GROUP BY reads the index alone (services/stats_rollup.py)
    __table_args__ = (Index("ix_case_facts_covering", "day", "grid_id", "assignee_id",
                            "category", "channel", "handling", "mask", "ack_due"),)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    day = Column(Date, nullable=False)  # the local date accepted (the timezone of the state)
    grid_id = Column(Integer)
    category = Column(String(32), nullable=False)
    channel = Column(String(32), nullable=False)
    handling = Column(String(32), nullable=False)
    assignee_id = Column(Integer)
    mask = Column(Integer, nullable=False)
    ack_due = Column(DateTime)


class CaseFactsState(Base):
    """One row: what the stored facts were computed with (timezone, time limits) and up to
    which case, event and rating ids they are complete (services/stats_rollup.py)."""

    __tablename__ = "case_facts_state"
    id = Column(Integer, primary_key=True)
    tz = Column(String(64), nullable=False)
    limits_stamp = Column(String(64), nullable=False)
    case_id = Column(BigInteger, nullable=False, default=0)  # complete up to these ids
    event_id = Column(BigInteger, nullable=False, default=0)
    rating_id = Column(BigInteger, nullable=False, default=0)
    seen_case_id = Column(BigInteger, nullable=False, default=0)  # the last refresh saw
    seen_event_id = Column(BigInteger, nullable=False, default=0)
    seen_rating_id = Column(BigInteger, nullable=False, default=0)
    built_at = Column(DateTime, nullable=False)
    refreshed_at = Column(DateTime, nullable=False)


class HotspotSnapshot(Base):
    """The hot spots of the whole grid tree as the scheduler last found them
    (services/hotspot_snapshots.py): pages and /api/hotspots read the newest one."""

    __tablename__ = "hotspot_snapshots"
    id = Column(Integer, primary_key=True)
    computed_at = Column(DateTime, nullable=False, index=True)
    window_days = Column(Integer, nullable=False)
    params = Column(JSON, nullable=False)
    items = Column(JSON, nullable=False)
