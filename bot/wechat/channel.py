"""One resident turn on WeChat: store, translate, ask Rasa, answer.

WeChat waits 5 seconds for the answer to its POST. A turn that finishes within
``passive_deadline`` is answered in that response (a passive reply); a slower one is
answered with an empty body, which WeChat takes as "no reply", and its text goes out
through the customer-service API when Rasa is done. Turns of one resident run one after
another (a lock per openid), so Rasa sees them in order. A message Rasa could not take
(down) is kept and retried by ``retry_unprocessed``; its answer then goes by the API.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path

from bot.core.contract import Capabilities
from bot.core.rasa import RasaClient, RasaUnavailable, intent_message, neutralise
from bot.inbound import RASA_UNAVAILABLE
from bot.wechat import protocol, render
from bot.wechat.api import WeChatApi, WeChatError
from bot.wechat.inbound import WeChatInbox
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.images import MAX_UPLOAD_BYTES, UploadError, check_image
from minsheng.settings import Settings

log = logging.getLogger(__name__)

PASSIVE_DEADLINE = 4.5  # seconds; WeChat gives up on the request after 5
MAX_RASA_TEXT = 1000
# Menu buttons (CLICK events) configured in the Official Account, by EventKey.
MENU_INTENTS = {"REPORT": "start_report", "MY_CASES": "check_status", "HELP": "help"}
BUSY = "系统繁忙，我们已记下您的消息，恢复后会第一时间答复您。"


def sender_id(openid: str) -> str:
    return f"wechat:{openid}"


class WeChatChannel:
    channel = Channel.wechat
    capabilities = Capabilities(buttons="numbered", photos=True, location=True, push=True,
                                push_window_hours=48)

    def __init__(self, settings: Settings, db: Database, api: WeChatApi, rasa: RasaClient,
                 passive_deadline: float = PASSIVE_DEADLINE) -> None:
        assert settings.wechat_token
        self._token = settings.wechat_token
        self.photos_dir = Path(settings.photos_dir)
        self.api = api
        self.rasa = rasa
        self.inbox = WeChatInbox(db)
        self.offers = render.OfferedOptions()
        self.passive_deadline = passive_deadline
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task] = set()
        self._in_flight: set[str] = set()

    # -- receive ---------------------------------------------------------------------------
    def verify(self, signature: str, timestamp: str, nonce: str) -> bool:
        return protocol.signature_valid(self._token, signature, timestamp, nonce)

    async def handle(self, body: bytes) -> str:
        """One POST from WeChat → the body to answer it with ("" or a passive XML reply)."""
        inbound = protocol.parse(body)
        if not await asyncio.to_thread(self.inbox.save, inbound):
            log.info("WeChat message %s already received; not processed again",
                     inbound.external_id)
            return ""
        self._in_flight.add(inbound.external_id)
        turn = asyncio.create_task(self._turn(inbound))
        try:
            done, _ = await asyncio.wait({turn}, timeout=self.passive_deadline)
        except asyncio.CancelledError:  # WeChat hung up: the answer still goes, by the API
            self.spawn(self._deliver_later(inbound.openid, turn))
            raise
        if turn not in done:
            log.info("WeChat turn %s slower than %ss: answering through the API",
                     inbound.external_id, self.passive_deadline)
            self.spawn(self._deliver_later(inbound.openid, turn))
            return ""
        pieces = render.split(turn.result())
        if not pieces:
            return ""
        if len(pieces) > 1:
            self.spawn(self.deliver_texts(inbound.openid, pieces[1:]))
        return protocol.passive_text(inbound, pieces[0])

    # -- the turn --------------------------------------------------------------------------
    async def retry_unprocessed(self, stale_after: float = 60.0,
                                max_attempts: int = 20) -> int:
        """Run the kept messages again; answers go by the API. Returns how many were run."""
        stale_before = utcnow() - timedelta(seconds=stale_after)
        kept = await asyncio.to_thread(self.inbox.unprocessed, stale_before, max_attempts)
        ran = 0
        for external_id, fields in kept:
            if external_id in self._in_flight:
                continue
            try:
                inbound = protocol.from_fields(fields)
            except protocol.BadMessage:
                continue
            self._in_flight.add(external_id)
            text = await self._turn(inbound, retrying=True)
            ran += 1
            try:
                await self.deliver_texts(inbound.openid, render.split(text))
            except WeChatError as error:
                log.error("WeChat answer to kept message %s lost: %s", external_id, error)
        return ran

    async def _turn(self, inbound: protocol.Inbound, retrying: bool = False) -> str:
        """The text to answer ``inbound`` with ("" for none); never raises."""
        try:
            async with self._lock(inbound.openid):
                return await self._converse(inbound, retrying)
        except Exception as error:
            log.exception("WeChat turn %s failed", inbound.external_id)
            await asyncio.to_thread(self.inbox.mark_failed, inbound.external_id,
                                    f"{type(error).__name__}: {error}")
            return render.NO_REPLY
        finally:
            self._in_flight.discard(inbound.external_id)

    async def _converse(self, inbound: protocol.Inbound, retrying: bool) -> str:
        rasa_text, direct = await self._to_rasa(inbound)
        if rasa_text is None:
            await asyncio.to_thread(self.inbox.mark_processed, inbound.external_id)
            return direct or ""
        metadata = {"channel": "wechat", "openid": inbound.openid,
                    "message_id": inbound.external_id}
        try:
            replies = await self.rasa.send_message(sender_id(inbound.openid), rasa_text,
                                                   metadata)
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for WeChat message %s: %s", inbound.external_id,
                        error)
            await asyncio.to_thread(self.inbox.mark_failed, inbound.external_id,
                                    f"{RASA_UNAVAILABLE}{error}")
            return "" if retrying else BUSY  # told once; the retry stays silent
        await asyncio.to_thread(self.inbox.mark_processed, inbound.external_id)
        return self.reply_text(inbound.openid, replies or [{"text": render.NO_REPLY}])

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

    # -- render and deliver ------------------------------------------------------------------
    def reply_text(self, openid: str, replies: list[dict]) -> str:
        """Rasa's messages as one text; their buttons become this resident's options."""
        self.offers.offer(openid, render.options_of(replies))
        return render.to_text(replies)

    async def deliver_texts(self, openid: str, pieces: list[str]) -> None:
        """Customer-service messages, in order; WeChatError (e.g. 45015) is raised."""
        for piece in pieces:
            await self.api.send_text(openid, piece)

    async def _deliver_later(self, openid: str, turn: asyncio.Task) -> None:
        text = await turn
        try:
            await self.deliver_texts(openid, render.split(text))
        except WeChatError as error:
            log.error("late WeChat reply to %s lost: %s", openid, error)

    # -- housekeeping ------------------------------------------------------------------------
    def spawn(self, work: Awaitable) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def idle(self) -> None:
        """Wait for the background deliveries (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)

    def _lock(self, openid: str) -> asyncio.Lock:
        if len(self._locks) > 10_000:  # forget idle residents' locks
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(openid, asyncio.Lock())


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
