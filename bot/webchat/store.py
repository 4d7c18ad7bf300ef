"""The web chat's rows (blocking calls, one unit of work each): residents by cookie id,
bot messages in ``outbox``, offered buttons. The resident's own messages are in the core
inbound store (bot.core.inbound); only their redraw is read here."""
from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, bindparam, delete, insert, or_, select

from bot.core.outbox import RATING_REQUEST
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import (
    Case,
    CaseFollower,
    CasePhoto,
    InboundMessage,
    OfferedButton,
    OutboxMessage,
    ResidentIdentity,
)
from minsheng.services import outbox
from minsheng.services.common import ensure_resident
from minsheng.services.contract import ResidentRef

WEB = Channel.web
MAX_BUTTONS = 20
HISTORY_LIMIT = 300  # messages redrawn when the page opens
PHOTOS_URL = "/chat/photos/"  # web/chat.py serves a case's photo there, to its resident only

# A turn's statements, built once with bound parameters: each compiles once, where one
# built on every call is built and cache-keyed again (bot.core.inbound says the same).
_IDENTITY = ResidentIdentity.__table__
_OFFERS = OfferedButton.__table__
_RESIDENT = select(_IDENTITY.c.resident_id).where(
    _IDENTITY.c.channel == WEB, _IDENTITY.c.external_id == bindparam("b_external_id"))
_OFFERED_TO = (select(_IDENTITY.c.resident_id, _OFFERS.c.title)
               .outerjoin(_OFFERS, and_(_OFFERS.c.channel == WEB,
                                        _OFFERS.c.resident_id == _IDENTITY.c.resident_id,
                                        _OFFERS.c.payload == bindparam("b_payload")))
               .where(_IDENTITY.c.channel == WEB,
                      _IDENTITY.c.external_id == bindparam("b_external_id")))
_WITHDRAW_OFFERS = delete(_OFFERS).where(_OFFERS.c.channel == WEB,
                                         _OFFERS.c.resident_id == bindparam("b_resident"))
_OFFER = insert(_OFFERS)


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


def _shown(row: OutboxMessage) -> dict:
    """What a row shows: a notice's own payload, or the Rasa message a row kept by the
    core outbox (``bot.core.outbox.keep``: the rating dialogue) carries."""
    payload = row.payload or {}
    return payload["reply"] if isinstance(payload.get("reply"), dict) else payload


def _message(row: OutboxMessage) -> ChatMessage:
    shown = _shown(row)
    return ChatMessage(row.id, row.text or "", clean_buttons(shown.get("buttons")),
                       page_image(str(shown.get("image") or "")), at=row.created_at)


def page_image(image: str) -> str:
    """A message's image as the page loads it: a web address as it is; a stored photo (a
    path under photos_dir: the 办结 photos with the rating question) by its file name under
    ``PHOTOS_URL``, never the server's path."""
    if not image or image.startswith(("https://", "http://")):
        return image
    return PHOTOS_URL + Path(image).name


def _visible(rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """A rating request is the core sender's instruction to start the rating dialogue,
    whose messages follow it; only one that could never start it is shown itself (its
    text and rating buttons)."""
    return [r for r in rows if r.kind != RATING_REQUEST or r.failed_at is not None]


def first_web_id(session, resident_id: int) -> str | None:
    """The web-chat id whose conversation is the resident's: a new device rejoins it, a
    rating the outbox starts runs in it."""
    return session.execute(select(ResidentIdentity.external_id).where(
        ResidentIdentity.channel == WEB, ResidentIdentity.resident_id == resident_id)
        .order_by(ResidentIdentity.id).limit(1)).scalar()


class WebChatStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- residents -------------------------------------------------------------------
    def resident_id(self, external_id: str, create: bool = False) -> int | None:
        """The resident behind a web-chat id; created on their first message."""
        with self._db.uow(read_only=True) as uow:  # most messages come from a known one
            found = uow.session.execute(_RESIDENT, {"b_external_id": external_id}).scalar()
        if found is not None or not create:
            return found
        with self._db.uow() as uow:
            resident = ensure_resident(uow.session, ResidentRef(WEB, external_id), None)
            uow.commit()
            return resident.id

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
        with self._db.uow(read_only=True) as uow:
            return first_web_id(uow.session, resident_id)

    def add_web_id(self, resident_id: int) -> str:
        """A web-chat id for a resident who so far only used another channel."""
        with self._db.uow() as uow:
            external_id = uuid.uuid4().hex
            uow.session.add(ResidentIdentity(resident_id=resident_id, channel=WEB,
                                             external_id=external_id))
            uow.commit()
            return external_id

    def own_photo(self, resident_id: int, name: str) -> str | None:
        """The stored path of the photo called ``name`` on a case this resident reported or
        follows (a duplicate merged into it); None for any other photo."""
        theirs = or_(Case.resident_id == resident_id, Case.id.in_(
            select(CaseFollower.case_id).where(CaseFollower.resident_id == resident_id)))
        with self._db.uow(read_only=True) as uow:
            paths = uow.session.execute(select(CasePhoto.path).join(
                Case, Case.id == CasePhoto.case_id).where(theirs)).scalars()
            return next((p for p in paths if Path(p).name == name), None)

    # -- bot messages ---------------------------------------------------------------------
    def answer(self, resident_id: int, replies: list[dict], keep_offers: bool = False,
               kind: str = "reply", answered: Callable | None = None,
               unless: Callable | None = None) -> list[ChatMessage]:
        """Rasa's replies become outbox rows, delivered at once (they go back in the
        response); ``answered(uow, now)`` marks the message they answer in the same
        transaction, unless ``unless(uow)``: another process answered it first.

        Their buttons replace the earlier offer — a reply without buttons withdraws it,
        except after a photo (keep_offers).
        """
        now = utcnow()
        shown = []
        for reply in replies:
            text = str(reply.get("text") or "")
            payload = {"buttons": clean_buttons(reply.get("buttons")),
                       "image": str(reply.get("image") or "")}
            if text or payload["buttons"] or payload["image"]:
                shown.append((text, payload))
        offered = [b for _, payload in shown for b in payload["buttons"]]
        with self._db.uow() as uow:
            if unless is not None and unless(uow):
                return []
            ids = outbox.delivered(uow, WEB, recipient_of(resident_id), kind, shown, now)
            if answered is not None:
                answered(uow, now)
            if offered or not keep_offers:
                self._replace_offers(uow, resident_id, offered, now)
            uow.commit()
        return [ChatMessage(i, text, payload["buttons"], page_image(payload["image"]), at=now)
                for i, (text, payload) in zip(ids, shown)]

    def tell(self, resident_id: int, text: str, kind: str = "system") -> ChatMessage:
        """A message from the channel itself (e.g. "the robot cannot answer now")."""
        return self.answer(resident_id, [{"text": text}], keep_offers=True, kind=kind)[0]

    # -- offered buttons -------------------------------------------------------------------
    def offered_to(self, external_id: str, payload: str) -> tuple[int | None, str | None]:
        """The resident behind a web-chat id and the title of ``payload`` if it is on offer
        to them (None, None: no such resident), in one read: a button press is most turns."""
        with self._db.uow(read_only=True) as uow:
            found = uow.session.execute(_OFFERED_TO, {"b_external_id": external_id,
                                                      "b_payload": payload}).first()
            return (found[0], found[1]) if found is not None else (None, None)

    def offers(self, resident_id: int) -> list[str]:
        with self._db.uow(read_only=True) as uow:
            return list(uow.session.execute(select(OfferedButton.payload).where(
                OfferedButton.channel == WEB, OfferedButton.resident_id == resident_id)
                .order_by(OfferedButton.id)).scalars())

    def _replace_offers(self, uow, resident_id: int, buttons: list[dict], now) -> None:
        uow.session.execute(_WITHDRAW_OFFERS, {"b_resident": resident_id})
        # none is left to look up (as _add_offers does): each payload once, the first title
        unique = {}
        for button in buttons:
            unique.setdefault(button["payload"][:500], button["title"][:200])
        if unique:
            uow.session.execute(_OFFER, [
                {"channel": WEB, "resident_id": resident_id, "payload": p, "title": t,
                 "offered_at": now} for p, t in unique.items()])

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

    def messages_after(self, resident_id: int, after: int) -> list[ChatMessage]:
        """Every bot message after ``after``; those never delivered are marked sent now and
        their buttons (a notice's rating buttons) go on offer."""
        # An open page asks every second, mostly for nothing new: read first, and take
        # the write lock only when there is something to mark delivered.
        with self._db.uow(read_only=True) as uow:
            rows = _visible(outbox.conversation(uow, WEB, recipient_of(resident_id), after))
            if all(r.sent_at is not None for r in rows):
                return [_message(r) for r in rows]
        now = utcnow()
        with self._db.uow() as uow:
            rows = _visible(outbox.conversation(uow, WEB, recipient_of(resident_id), after))
            self._deliver(uow, resident_id, rows, now)
            uow.commit()
            return [_message(r) for r in rows]

    def history(self, resident_id: int, limit: int = HISTORY_LIMIT) -> list[ChatMessage]:
        """The conversation (its last ``limit`` messages): the resident's and the bot's,
        in order."""
        now = utcnow()
        with self._db.uow() as uow:
            rows = _visible(outbox.conversation(uow, WEB, recipient_of(resident_id)))
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
                self._add_offers(uow, resident_id, clean_buttons(_shown(row).get("buttons")),
                                 now)
