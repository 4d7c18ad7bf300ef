"""The WeChat adapter: one resident turn (store, translate, ask Rasa, answer) and the
delivery of outbox rows (customer-service messages, template messages outside the window).

A turn's answer leaves through the outbox like every other: it is rendered (buttons as
numbered options), split into WeChat-sized pieces (texts, images) and kept as reply rows
in the same transaction that marks the message processed. WeChat waits 5 seconds for the
answer to its POST: a turn that finishes within ``passive_deadline`` with one text piece
returns it as the passive reply, marked sent once the response has gone
(``passive_sent``). A passive reply reaches the resident only after the response, so an
answer of several pieces (or an image), a slower turn's answer, and anything to a
resident who is still being sent an earlier answer, go by the customer-service API from
one job per resident, in order (``_in_order``). If this process dies before that, the
core sender delivers the kept rows, in order, when their lease runs out. Turns of one
resident run one after another (a lock per openid), so Rasa sees them in order. Messages
are stored, claimed and kept in the core inbound store (bot.core.inbound): a message is
held by the process working on it (a lease renewed while the turn runs), so another
process's retry loop never takes it, and a killed process's message is taken again once
its lease runs out. Every turn goes through ``bot.core.replay.take_turn`` keyed by the message's id:
a message Rasa could not take (down), or answered with nothing (a custom action failed),
is kept and retried by ``retry_forever`` — the empty ones with back-off, at most
``EMPTY_ATTEMPTS`` times — and a retried turn Rasa already answered (the process died
before keeping the answer) is answered from Rasa's tracker, never taken twice.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.core import outbox as core
from bot.core import replay
from bot.core.contract import Capabilities
from bot.core.inbound import EMPTY_ATTEMPTS, RASA_UNAVAILABLE, Stored, backoff
from bot.core.outbox import Due, Outcome
from bot.core.rasa import RasaClient, RasaUnavailable, intent_message, neutralise
from bot.core.turns import TurnLock, Turns
from bot.wechat import protocol, render, template
from bot.wechat.api import NOT_FOLLOWING, WINDOW_CLOSED, WeChatApi, WeChatError
from bot.wechat.inbound import WeChatInbox, mark_unreachable
from bot.wechat.media import ImageRefused, OutgoingImages
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.images import MAX_UPLOAD_BYTES, UploadError, check_image
from minsheng.models import OutboxMessage, ResidentIdentity
from minsheng.settings import Settings

log = logging.getLogger(__name__)

PASSIVE_DEADLINE = 4.5  # seconds; WeChat gives up on the request after 5
MAX_RASA_TEXT = 1000
# Menu buttons (CLICK events) configured in the Official Account, by EventKey.
MENU_INTENTS = {"REPORT": "start_report", "MY_CASES": "check_status", "HELP": "help"}
WINDOW_CLOSED_NO_TEMPLATE = (
    f"{WINDOW_CLOSED}: 居民 48 小时内未发消息，客服消息窗口已关闭，且未配置模板消息 "
    "(MINSHENG_WECHAT_TEMPLATE_ID)")


def sender_id(openid: str) -> str:
    return f"wechat:{openid}"


class WeChatChannel:
    channel = Channel.wechat
    capabilities = Capabilities(buttons="numbered", photos=True, location=True, push=True,
                                push_window_hours=48)

    per_recipient_interval = 0.0  # WeChat limits per account, not per resident

    def __init__(self, settings: Settings, db: Database, api: WeChatApi, rasa: RasaClient,
                 passive_deadline: float = PASSIVE_DEADLINE) -> None:
        assert settings.wechat_token
        self._token = settings.wechat_token
        self.db = db
        self.template_id = settings.wechat_template_id
        self.template_fields = settings.wechat_template_fields
        self.timezone = settings.timezone
        self.photos_dir = Path(settings.photos_dir)
        self.api = api
        self.images = OutgoingImages(api, self.photos_dir)
        self.rasa = rasa
        self.inbox = WeChatInbox(db)
        self.offers = render.OfferedOptions(settings.shared_state_url)
        self.passive_deadline = passive_deadline
        self._turns = Turns(settings.shared_state_url, "wechat")
        self._background: set[asyncio.Task] = set()
        self._sending: dict[str, asyncio.Task] = {}  # the last API delivery to each openid
        self.empty_backoff = 5.0  # seconds before an empty-answered message is sent again
        self.max_backoff = 15.0  # and at most this long, however often it came back empty

    # -- receive ---------------------------------------------------------------------------
    def verify(self, signature: str, timestamp: str, nonce: str) -> bool:
        return protocol.signature_valid(self._token, signature, timestamp, nonce)

    async def handle(self, body: bytes) -> tuple[str, list[int]]:
        """One POST from WeChat → the body to answer it with ("" or a passive XML reply)
        and the outbox rows that body carries (mark them with ``passive_sent`` once the
        response has gone)."""
        inbound = protocol.parse(body)
        held = await asyncio.to_thread(self.inbox.receive, inbound)
        if held is None:
            log.info("WeChat message %s already received; not processed again",
                     inbound.external_id)
            return "", []
        turn = asyncio.create_task(self._turn(inbound, held))
        try:
            done, _ = await asyncio.wait({turn}, timeout=self.passive_deadline)
        except asyncio.CancelledError:  # WeChat hung up: the answer still goes, by the API
            self._in_order(inbound.openid, turn)
            raise
        if turn not in done:
            log.info("WeChat turn %s slower than %ss: answering through the API",
                     inbound.external_id, self.passive_deadline)
            self._in_order(inbound.openid, turn)
            return "", []
        kept = turn.result()
        if not kept:
            return "", []
        if len(kept) > 1 or "image" in kept[0].message or inbound.openid in self._sending:
            # A passive reply reaches WeChat only after this response, so API messages sent
            # meanwhile could overtake it: every piece goes by the API, in order.
            self._in_order(inbound.openid, _ready(kept))
            return "", []
        return protocol.passive_text(inbound, kept[0].text), [kept[0].id]

    async def passive_sent(self, ids: list[int]) -> None:
        """The response carrying these rows has gone to WeChat."""
        await asyncio.to_thread(core.record, self.db, [(i, core.SENT) for i in ids], [])

    # -- the turn --------------------------------------------------------------------------
    async def retry_forever(self, interval: float = 2.0) -> None:
        """Forever: the messages Rasa could not take before, answered by the API."""
        while True:
            try:
                await self.retry_unprocessed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("WeChat retry failed; trying again in %ss", interval)
            await asyncio.sleep(interval)

    async def retry_unprocessed(self, stale_after: float = 60.0,
                                max_attempts: int = 20) -> int:
        """Run the kept messages again; answers go by the API. Returns how many were run."""
        stale_before = utcnow() - timedelta(seconds=stale_after)
        kept = await asyncio.to_thread(self.inbox.unprocessed, stale_before, max_attempts)
        ran = 0
        for stored in kept:
            try:
                inbound = protocol.from_fields(stored.payload)
            except protocol.BadMessage:
                continue
            # held by a turn here or in another process, or answered meanwhile: not ours
            held = await asyncio.to_thread(self.inbox.claim, stored.key)
            if held is None:
                continue
            await self._in_order(inbound.openid,
                                 _ready(await self._turn(inbound, held, retrying=True)))
            ran += 1
        return ran

    async def _turn(self, inbound: protocol.Inbound, held: Stored,
                    retrying: bool = False) -> list[Due]:
        """The kept rows that answer ``inbound`` (``held``: claimed here); none for no
        answer; never raises."""
        try:
            async with self.inbox.holding(held), self._lock(inbound.openid):
                pieces, answered = await self._converse(inbound, retrying)
        except Exception as error:
            log.exception("WeChat turn %s failed", inbound.external_id)
            await asyncio.to_thread(self.inbox.mark_failed, inbound.external_id,
                                    f"{type(error).__name__}: {error}")
            pieces, answered = render.text_pieces(render.NO_REPLY), False
        return await self._keep(inbound, pieces, answered)

    async def _keep(self, inbound: protocol.Inbound, pieces: list[dict],
                    answered: bool) -> list[Due]:
        """The answer's pieces as outbox rows; ``answered``: with the message processed."""
        if not pieces and not answered:
            return []
        key = inbound.external_id
        also = self.inbox.answered(key) if answered else None
        unless = self.inbox.answered_already(key) if answered else None
        kept = await asyncio.to_thread(core.keep, self.db, self.channel,
                                       self.reply_recipient(inbound.openid), pieces, None,
                                       also, True, unless)
        return [Due(k.id, k.kind, k.text, k.payload, k.recipient, inbound.openid)
                for k in kept]

    async def _converse(self, inbound: protocol.Inbound,
                        retrying: bool) -> tuple[list[dict], bool]:
        """(the pieces to answer with, whether the message is now answered)."""
        rasa_text, direct = await self._to_rasa(inbound)
        if rasa_text is None:
            return render.text_pieces(direct or ""), True
        metadata = {"channel": "wechat", "openid": inbound.openid,
                    "message_id": inbound.external_id}
        try:
            replies = await replay.take_turn(self.rasa, sender_id(inbound.openid),
                                             inbound.external_id, rasa_text, metadata,
                                             seen=retrying)
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for WeChat message %s: %s", inbound.external_id,
                        error)
            await asyncio.to_thread(self.inbox.mark_failed, inbound.external_id,
                                    f"{RASA_UNAVAILABLE}{error}")
            # told once; retries are silent
            return render.text_pieces("" if retrying else render.BUSY), False
        if not replies:
            return await self._no_reply(inbound, retrying)
        return self.reply_pieces(inbound.openid, replies), True

    async def _no_reply(self, inbound: protocol.Inbound,
                        retrying: bool) -> tuple[list[dict], bool]:
        """Rasa answered nothing: a custom action failed (the action server is down) and
        Rasa dropped its events. Kept and sent again with back-off (the turn put back, see
        bot.core.replay); after ``EMPTY_ATTEMPTS`` the resident is asked to send it again."""
        attempts = await asyncio.to_thread(self.inbox.attempts, inbound.external_id)
        log.warning("Rasa gave no reply to WeChat message %s (attempt %s)",
                    inbound.external_id, attempts + 1)
        if attempts + 1 >= EMPTY_ATTEMPTS:
            return render.text_pieces(render.NO_REPLY), True
        await asyncio.to_thread(self.inbox.mark_failed, inbound.external_id, replay.EMPTY_TURN,
                                backoff(attempts, self.empty_backoff, self.max_backoff))
        return render.text_pieces("" if retrying else render.BUSY), False

    async def _to_rasa(self, inbound: protocol.Inbound) -> tuple[str | None, str | None]:
        """What Rasa is sent for ``inbound``, or (None, what to answer without Rasa)."""
        if inbound.kind == "text":
            return self._typed(inbound)
        if inbound.kind == "image":
            path = await self.save_photo(inbound)
            if path is None:
                return None, render.PHOTO_FAILED
            return intent_message("send_photo", photo=str(path)), None
        if inbound.kind == "location":
            try:
                lat = float(inbound.fields["Location_X"])
                lon = float(inbound.fields["Location_Y"])
            except (KeyError, TypeError, ValueError):
                return None, render.UNSUPPORTED
            return intent_message("share_location", lat=lat, lon=lon), None
        if inbound.kind == "click":
            intent = MENU_INTENTS.get(str(inbound.fields.get("EventKey") or ""), "help")
            return f"/{intent}", None
        if inbound.kind == "subscribe":
            return "/greet", None
        if inbound.kind in ("unsubscribe", "event"):
            return None, None  # nothing to answer (and nobody to answer after unsubscribe)
        return None, render.UNSUPPORTED

    def _typed(self, inbound: protocol.Inbound) -> tuple[str | None, str | None]:
        typed = neutralise(inbound.text)  # also drops invisible and control characters
        if not typed:
            return None, render.EMPTY_MESSAGE
        chosen = self.offers.answer(inbound.openid, typed)
        if chosen is not None:
            return chosen.payload, None
        return typed[:MAX_RASA_TEXT], None

    async def save_photo(self, inbound: protocol.Inbound) -> Path | None:
        """The photo behind the message's MediaId, checked and stored; None if refused."""
        media_id = str(inbound.fields.get("MediaId") or "")
        try:
            content = await self.api.download_media(media_id, MAX_UPLOAD_BYTES)
            suffix = check_image(content)
        except (WeChatError, UploadError) as error:
            log.warning("WeChat photo %s refused: %s", inbound.external_id, error)
            return None
        folder = self.photos_dir / "wechat" / utcnow().strftime("%Y%m")
        path = folder / f"{uuid.uuid5(uuid.NAMESPACE_URL, f'wechat:{media_id}').hex}{suffix}"
        await asyncio.to_thread(_write, path, content)
        return path

    # -- render and deliver (the core sender's adapter) --------------------------------------
    def reply_pieces(self, openid: str, replies: list[dict]) -> list[dict]:
        """Rasa's messages as WeChat's; their buttons become this resident's options (a
        photo alone, e.g. after the rating question, leaves the options as they were)."""
        pieces = render.pieces(replies)
        if any("text" in piece for piece in pieces):
            self.offers.offer(openid, render.options_of(replies))
        return pieces

    def address(self, uow, recipient: str) -> str | None:
        """``resident:<id>`` → their openid; a kept reply's ``openid:<openid>`` → itself."""
        kind, _, rest = recipient.partition(":")
        if kind == "openid":
            return rest or None
        if kind != "resident" or not rest.isdigit():
            return None  # staff are not reached on WeChat
        return uow.session.execute(select(ResidentIdentity.external_id).where(
            ResidentIdentity.resident_id == int(rest),
            ResidentIdentity.channel == Channel.wechat)).scalar()

    def sender_id(self, openid: str) -> str:
        return sender_id(openid)

    def reply_recipient(self, openid: str) -> str:
        return f"openid:{openid}"

    def mark_unreachable(self, uow, openid: str, now) -> None:
        mark_unreachable(uow, openid, now)

    async def deliver(self, due: Due) -> Outcome:
        """Customer-service messages; outside the 48-hour window a template message. A row
        of several pieces whose later piece failed is retried from that piece
        (``Outcome.pieces_sent``): the resident never gets its first pieces twice."""
        openid = str(due.address)
        pieces = ([due.message] if due.payload.get("rendered")
                  else self.reply_pieces(openid, [due.message]))[due.pieces_sent:]
        sent = 0
        try:
            try:
                for piece in pieces:
                    await self.send_piece(openid, piece)
                    sent += 1
            except WeChatError as error:
                if error.errcode != WINDOW_CLOSED:
                    raise
                outcome = await self._deliver_template(openid, due, pieces[sent:])
                return replace(outcome, pieces_sent=due.pieces_sent + sent)
        except ImageRefused as error:
            return Outcome(f"ImageRefused: {error}", give_up=True)
        except WeChatError as error:
            unfollowed = error.errcode == NOT_FOLLOWING
            return Outcome(f"WeChatError: {error}", give_up=unfollowed, stop_chat=True,
                           blocked=unfollowed, pieces_sent=due.pieces_sent + sent)
        return core.SENT

    async def send_piece(self, openid: str, piece: dict) -> None:
        """One customer-service message; WeChatError (e.g. 45015) is raised."""
        if "image" in piece:
            await self.api.send_image(openid, await self.images.media_id(piece["image"]))
        else:
            await self.api.send_text(openid, piece["text"])

    async def _deliver_template(self, openid: str, due: Due, pieces: list[dict]) -> Outcome:
        """The notice as the account's template message (WeChatError is raised)."""
        text = "\n".join(p["text"] for p in pieces if "text" in p)
        if not self.template_id:
            return Outcome(WINDOW_CLOSED_NO_TEMPLATE)
        if not text:  # an image alone has nothing a template could carry
            return Outcome(f"{WINDOW_CLOSED}: 客服消息窗口已关闭，图片无法以模板消息发送",
                           give_up=True)
        when = await asyncio.to_thread(self._written_at, due.id)
        await self.api.send_template(openid, self.template_id, template.data(
            self.template_fields, due.kind, due.payload.get("case_no"), text, when,
            self.timezone))
        return core.SENT

    def _written_at(self, row_id: int):
        """When the notice was queued (the time its template message shows)."""
        with self.db.uow() as uow:
            return uow.session.execute(select(OutboxMessage.created_at).where(
                OutboxMessage.id == row_id)).scalar() or utcnow()

    def _in_order(self, openid: str, rows: Awaitable[list[Due]]) -> asyncio.Task:
        """Send ``rows`` (once kept) by the API after whatever this process is still
        sending to ``openid``: one resident's answers leave one after another."""
        before = self._sending.get(openid)

        async def send() -> None:
            if before is not None:
                await asyncio.wait({before})
            await core.deliver_kept(self.db, self, await rows)

        task = self.spawn(send())
        self._sending[openid] = task
        task.add_done_callback(lambda done: self._sent_all(openid, done))
        return task

    def _sent_all(self, openid: str, done: asyncio.Task) -> None:
        if self._sending.get(openid) is done:
            del self._sending[openid]

    # -- housekeeping ------------------------------------------------------------------------
    def spawn(self, work: Awaitable) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def idle(self) -> None:
        """Wait for the background deliveries (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        await self._turns.close()

    def _lock(self, openid: str) -> TurnLock:
        return self._turns.lock(openid)


async def _ready(rows: list[Due]) -> list[Due]:
    return rows


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
