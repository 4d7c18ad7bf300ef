"""The web chat's rows (blocking calls, one unit of work each): residents by cookie id,
their messages in ``inbound_messages``, bot messages in ``outbox``, offered buttons."""
from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update

from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import Case, InboundMessage, OfferedButton, OutboxMessage, ResidentIdentity
from minsheng.services import outbox
from minsheng.services.common import ensure_resident
from minsheng.services.contract import ResidentRef

WEB = Channel.web
# Outbox kinds that ask the channel to start a Rasa conversation rather than show a text.
TRIGGERS = {"rating_request": "start_rating"}
MAX_BUTTONS = 20
HISTORY_LIMIT = 300  # messages redrawn when the page opens


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation; ``mine`` is the resident's own (an inbound row)."""

    id: int
    text: str
    buttons: list[dict] = field(default_factory=list)
    image: str = ""
    mine: bool = False
    at: datetime | None = None

    def as_json(self) -> dict:
        return {"id": self.id, "text": self.text, "buttons": self.buttons, "image": self.image}


@dataclass(frozen=True)
class Pending:
    """A stored resident message Rasa has not answered yet."""

    id: int
    external_id: str
    rasa_text: str
    keep_offers: bool
    attempts: int


@dataclass(frozen=True)
class Trigger:
    id: int
    intent: str
    entities: dict


def sender_of(external_id: str) -> str:
    return f"web:{external_id}"


def recipient_of(resident_id: int) -> str:
    return f"resident:{resident_id}"


def clean_buttons(raw) -> list[dict]:
    """Rasa's or a notice's buttons as ``{"title", "payload"}``; buttons without a payload
    are dropped."""
    buttons = [{"title": str(b.get("title") or ""), "payload": str(b.get("payload"))}
               for b in (raw or []) if isinstance(b, dict) and b.get("payload")]
    return buttons[:MAX_BUTTONS]


def _message(row: OutboxMessage) -> ChatMessage:
    payload = row.payload or {}
    return ChatMessage(row.id, row.text or "", clean_buttons(payload.get("buttons")),
                       str(payload.get("image") or ""), at=row.created_at)


class WebChatStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- residents -------------------------------------------------------------------
    def resident_id(self, external_id: str, create: bool = False) -> int | None:
        """The resident behind a web-chat id; created on their first message."""
        with self._db.uow() as uow:
            found = uow.session.execute(select(ResidentIdentity.resident_id).where(
                ResidentIdentity.channel == WEB,
                ResidentIdentity.external_id == external_id)).scalar()
            if found is not None or not create:
                return found
            resident = ensure_resident(uow.session, ResidentRef(WEB, external_id), None)
            uow.commit()
            return resident.id

    def lookup(self, external_id: str) -> tuple[int | None, bool]:
        """The resident behind a web-chat id, and whether something waits for Rasa (an
        unanswered message, or a notice to start a conversation) — one read per poll."""
        with self._db.uow() as uow:
            session = uow.session
            resident_id = session.execute(select(ResidentIdentity.resident_id).where(
                ResidentIdentity.channel == WEB,
                ResidentIdentity.external_id == external_id)).scalar()
            if resident_id is None:
                return None, False
            unanswered = select(InboundMessage.id).where(
                InboundMessage.channel == WEB, InboundMessage.sender == sender_of(external_id),
                InboundMessage.processed_at.is_(None))
            return resident_id, session.execute(
                unanswered.union_all(self._due_triggers(resident_id)).limit(1)).first() \
                is not None

    @staticmethod
    def _due_triggers(resident_id: int | None = None, now: datetime | None = None):
        query = select(OutboxMessage.id).where(
            OutboxMessage.channel == WEB, OutboxMessage.kind.in_(list(TRIGGERS)),
            OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at <= (now or utcnow()))
        if resident_id is not None:
            query = query.where(OutboxMessage.recipient == recipient_of(resident_id))
        return query

    def waiting(self, stale_before: datetime, limit: int = 100) -> list[tuple[str, int]]:
        """(web id, resident id) of residents with a message Rasa did not answer (tried
        before, or stored before ``stale_before``) or a notice to start, for the sweep."""
        with self._db.uow() as uow:
            session = uow.session
            senders = session.execute(select(InboundMessage.sender).where(
                InboundMessage.channel == WEB, InboundMessage.processed_at.is_(None),
                (InboundMessage.attempts > 0) | (InboundMessage.received_at < stale_before))
                .distinct().limit(limit)).scalars()
            web_ids = [s.split(":", 1)[1] for s in senders if s]
            recipients = session.execute(select(OutboxMessage.recipient).where(
                OutboxMessage.id.in_(self._due_triggers())).distinct().limit(limit)).scalars()
            resident_ids = [int(r.split(":", 1)[1]) for r in recipients]
            identities = session.execute(select(ResidentIdentity).where(
                ResidentIdentity.channel == WEB,
                ResidentIdentity.external_id.in_(web_ids)
                | ResidentIdentity.resident_id.in_(resident_ids))
                .order_by(ResidentIdentity.id)).scalars()
            found: dict[str, int] = {}
            for identity in identities:
                first_of_resident = identity.resident_id not in found.values()
                if identity.external_id in web_ids or first_of_resident:
                    found[identity.external_id] = identity.resident_id
            return list(found.items())

    def rejoin(self, case_no: str, phone_tail: str) -> str | None:
        """The web-chat id of the resident who reported ``case_no`` if ``phone_tail`` is the
        last four digits of the phone given with it (a new device rejoins); else None."""
        with self._db.uow() as uow:
            case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar()
            phone = "".join(ch for ch in (case.phone or "") if ch.isdigit()) if case else ""
            if case is None or case.resident_id is None or len(phone) < 4 \
                    or not hmac.compare_digest(phone[-4:], phone_tail):
                return None
            resident_id = case.resident_id
        return self.web_id_of(resident_id) or self.add_web_id(resident_id)

    def web_id_of(self, resident_id: int) -> str | None:
        """The resident's first web-chat id (the conversation a new device rejoins)."""
        with self._db.uow() as uow:
            return uow.session.execute(select(ResidentIdentity.external_id).where(
                ResidentIdentity.channel == WEB, ResidentIdentity.resident_id == resident_id)
                .order_by(ResidentIdentity.id).limit(1)).scalar()

    def add_web_id(self, resident_id: int) -> str:
        """A web-chat id for a resident who so far only used another channel."""
        with self._db.uow() as uow:
            external_id = uuid.uuid4().hex
            uow.session.add(ResidentIdentity(resident_id=resident_id, channel=WEB,
                                             external_id=external_id))
            uow.commit()
            return external_id

    # -- the resident's messages -----------------------------------------------------------
    def save_inbound(self, external_id: str, rasa_text: str, shown: str,
                     keep_offers: bool = False, extra: dict | None = None) -> int:
        """Store a message before Rasa sees it; its ``external_id`` is Rasa's message_id."""
        with self._db.uow() as uow:
            row = InboundMessage(
                channel=WEB, external_id=uuid.uuid4().hex, sender=sender_of(external_id),
                payload={"rasa": rasa_text, "text": shown, "keep_offers": keep_offers,
                         **(extra or {})},
                received_at=utcnow())
            uow.session.add(row)
            uow.commit()
            return row.id

    def pending(self, external_id: str) -> list[Pending]:
        """This resident's unanswered messages, oldest first."""
        with self._db.uow() as uow:
            rows = uow.session.execute(select(InboundMessage).where(
                InboundMessage.channel == WEB, InboundMessage.sender == sender_of(external_id),
                InboundMessage.processed_at.is_(None)).order_by(InboundMessage.id)).scalars()
            return [Pending(r.id, r.external_id, str(r.payload.get("rasa") or ""),
                            bool(r.payload.get("keep_offers")), r.attempts) for r in rows]

    def answer(self, inbound_id: int | None, resident_id: int, replies: list[dict],
               keep_offers: bool = False, kind: str = "reply",
               delivered: bool = True) -> list[ChatMessage]:
        """Rasa's replies become outbox rows; the message is processed.

        Replies to a turn are delivered at once (they go back in the response) and their
        buttons replace the earlier offer — a reply without buttons withdraws it, except
        after a photo (keep_offers). Messages not ``delivered`` (a conversation Rasa started
        for a notice) wait for the page, and their buttons go on offer when it fetches them.
        """
        now = utcnow()
        with self._db.uow() as uow:
            rows, offered = [], []
            for reply in replies:
                buttons = clean_buttons(reply.get("buttons"))
                text = str(reply.get("text") or "")
                image = str(reply.get("image") or "")
                if not (text or buttons or image):
                    continue
                row = outbox.enqueue(uow, WEB, recipient_of(resident_id), kind, text,
                                     payload={"buttons": buttons, "image": image,
                                              "inbound_id": inbound_id}, now=now)
                row.sent_at = now if delivered else None
                rows.append(row)
                offered += buttons
            if inbound_id is not None:
                self._processed(uow, inbound_id, now)
            if delivered and (offered or not keep_offers):
                self._replace_offers(uow, resident_id, offered, now)
            uow.commit()
            return [_message(r) for r in rows]

    def fail(self, inbound_id: int, error: str, give_up: bool = False) -> None:
        """Rasa did not answer: the message stays unprocessed for a retry (or, given up
        after repeated empty answers, is closed with its error)."""
        with self._db.uow() as uow:
            values = {"attempts": InboundMessage.attempts + 1, "last_error": error[:2000]}
            if give_up:
                values["processed_at"] = utcnow()
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.id == inbound_id).values(**values))
            uow.commit()

    def tell(self, resident_id: int, text: str, kind: str = "system") -> ChatMessage:
        """A message from the channel itself (e.g. "the robot cannot answer now")."""
        return self.answer(None, resident_id, [{"text": text}], keep_offers=True, kind=kind)[0]

    @staticmethod
    def _processed(uow, inbound_id: int, now: datetime) -> None:
        uow.session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id)
                            .values(processed_at=now, attempts=InboundMessage.attempts + 1,
                                    last_error=None))

    # -- offered buttons -------------------------------------------------------------------
    def offered_title(self, resident_id: int, payload: str) -> str | None:
        """The title of ``payload`` if it is on offer to this resident, else None."""
        with self._db.uow() as uow:
            return uow.session.execute(select(OfferedButton.title).where(
                OfferedButton.channel == WEB, OfferedButton.resident_id == resident_id,
                OfferedButton.payload == payload)).scalar()

    def offers(self, resident_id: int) -> list[str]:
        with self._db.uow() as uow:
            return list(uow.session.execute(select(OfferedButton.payload).where(
                OfferedButton.channel == WEB, OfferedButton.resident_id == resident_id)
                .order_by(OfferedButton.id)).scalars())

    def _replace_offers(self, uow, resident_id: int, buttons: list[dict], now) -> None:
        uow.session.execute(delete(OfferedButton).where(
            OfferedButton.channel == WEB, OfferedButton.resident_id == resident_id))
        uow.session.flush()
        self._add_offers(uow, resident_id, buttons, now)

    @staticmethod
    def _add_offers(uow, resident_id: int, buttons: list[dict], now) -> None:
        session = uow.session
        for button in buttons:
            payload = button["payload"][:500]
            existing = session.execute(select(OfferedButton).where(
                OfferedButton.channel == WEB, OfferedButton.resident_id == resident_id,
                OfferedButton.payload == payload)).scalar()
            if existing is None:
                session.add(OfferedButton(channel=WEB, resident_id=resident_id,
                                          payload=payload, title=button["title"][:200],
                                          offered_at=now))
                session.flush()

    # -- bot messages ----------------------------------------------------------------------
    def messages_after(self, resident_id: int, after: int) -> list[ChatMessage]:
        """Every bot message after ``after``; those never delivered are marked sent now and
        their buttons (a notice's rating buttons) go on offer."""
        now = utcnow()
        with self._db.uow() as uow:
            rows = outbox.conversation(uow, WEB, recipient_of(resident_id), after,
                                       hidden_kinds=TRIGGERS)
            self._deliver(uow, resident_id, rows, now)
            uow.commit()
            return [_message(r) for r in rows]

    def mark_delivered(self, resident_id: int, ids: list[int]) -> None:
        """Messages that went back in a response are delivered (their buttons on offer)."""
        if not ids:
            return
        with self._db.uow() as uow:
            rows = list(uow.session.execute(select(OutboxMessage).where(
                OutboxMessage.id.in_(ids), OutboxMessage.recipient == recipient_of(resident_id))
                .order_by(OutboxMessage.id)).scalars())
            self._deliver(uow, resident_id, rows, utcnow())
            uow.commit()

    def history(self, resident_id: int, limit: int = HISTORY_LIMIT) -> list[ChatMessage]:
        """The conversation (its last ``limit`` messages): the resident's and the bot's,
        in order."""
        now = utcnow()
        with self._db.uow() as uow:
            rows = outbox.conversation(uow, WEB, recipient_of(resident_id),
                                       hidden_kinds=TRIGGERS)
            self._deliver(uow, resident_id, rows, now)
            senders = select(ResidentIdentity.external_id).where(
                ResidentIdentity.channel == WEB, ResidentIdentity.resident_id == resident_id)
            mine = uow.session.execute(select(InboundMessage).where(
                InboundMessage.channel == WEB,
                InboundMessage.sender.in_([sender_of(e) for e in
                                           uow.session.execute(senders).scalars()]))
                .order_by(InboundMessage.id)).scalars()
            own = [ChatMessage(m.id, str(m.payload.get("text") or ""), mine=True,
                               at=m.received_at) for m in mine]
            uow.commit()
            bot = [_message(r) for r in rows]
        return sorted(own + bot, key=lambda m: (m.at, not m.mine, m.id))[-limit:]

    def _deliver(self, uow, resident_id: int, rows: list[OutboxMessage], now) -> None:
        for row in rows:
            if row.sent_at is None:
                row.sent_at = now
                row.last_error = None
                self._add_offers(uow, resident_id, clean_buttons((row.payload or {})
                                                                 .get("buttons")), now)

    # -- notices that start a Rasa conversation (the rating) ---------------------------------
    def claim_triggers(self, resident_id: int) -> list[Trigger]:
        with self._db.uow() as uow:
            rows = outbox.claim_due(uow, utcnow(), 10, channels=[WEB],
                                    recipient=recipient_of(resident_id), kinds=TRIGGERS)
            claimed = [Trigger(r.id, TRIGGERS[r.kind],
                               {"case_no": (r.payload or {}).get("case_no")}) for r in rows]
            uow.commit()
            return claimed

    def triggered(self, trigger_id: int, resident_id: int,
                  messages: list[dict]) -> list[ChatMessage]:
        """The conversation Rasa started is this resident's next messages."""
        with self._db.uow() as uow:
            outbox.mark_sent(uow, trigger_id)
            uow.commit()
        return self.answer(None, resident_id, messages, kind="notice", delivered=False)

    def trigger_failed(self, trigger_id: int, error: str) -> None:
        """Retried with the outbox's back-off; given up, its own text is shown instead."""
        with self._db.uow() as uow:
            outbox.mark_failed(uow, trigger_id, error)
            row = uow.session.get(OutboxMessage, trigger_id)
            if row is not None and row.failed_at is not None:
                outbox.enqueue(uow, WEB, row.recipient, "notice", row.text,
                               payload=dict(row.payload or {}), now=utcnow())
            uow.commit()
