"""The web chat as a full channel: messages stored first, replies and notices in the
outbox with their ids, a conversation that survives a reload, notice buttons on offer,
the rating dialogue started by the core outbox sender, and a resident told (not a 503)
when Rasa cannot answer."""
from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.core.texts import BUSY
from minsheng.clock import utcnow
from minsheng.enums import Category, Channel
from minsheng.models import InboundMessage, OutboxMessage, ResidentIdentity
from minsheng.places import Place
from minsheng.services import cases, handling, notify, outbox
from minsheng.services.common import load_case
from tests.web.conftest import csrf_of

REPORT = "幸福小区3号楼楼道堆满杂物"


def say(client, **body):
    return client.post("/chat/send", json=body, headers={"X-CSRFToken": csrf_of(client)})


def poll(client, after: int = 0) -> list[dict]:
    response = client.get("/chat/messages", params={"after": after})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def poll_until(client, found, after: int = 0, timeout: float = 15.0) -> list[dict]:
    """The page polling until ``found(messages)`` (the web process works meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = poll(client, after)
        if found(messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def web_id(rasa) -> str:
    return rasa.received[-1]["sender"].split(":", 1)[1]


def resident_of(db, external_id: str) -> int:
    with db.uow() as uow:
        return uow.session.execute(select(ResidentIdentity.resident_id).where(
            ResidentIdentity.channel == Channel.web,
            ResidentIdentity.external_id == external_id)).scalar_one()


def outbox_row(db, row_id: int) -> OutboxMessage:
    with db.uow() as uow:
        row = uow.session.get(OutboxMessage, row_id)
        uow.session.expunge_all()  # readable after the unit of work
        return row


def inbound_rows(db) -> list[InboundMessage]:
    with db.uow() as uow:
        rows = list(uow.session.execute(
            select(InboundMessage).order_by(InboundMessage.id)).scalars())
        uow.session.expunge_all()
        return rows


def open_web_case(db, external_id: str) -> str:
    """What the action server does on 确认 for this web resident."""
    with db.uow() as uow:
        result = cases.open_case(uow, cases.NewCase(
            channel=Channel.web, idempotency_key=None, description=REPORT,
            category=Category.clutter, place=Place(xiaoqu="幸福小区", building="3号楼"),
            resident=cases.ResidentRef(Channel.web, external_id)))
        uow.commit()
        return result.case_no


def tell(db, case_no: str, text: str, **payload) -> None:
    with db.uow() as uow:
        notify.tell_residents(uow, load_case(uow.session, case_no), "case_progress", text,
                              utcnow(), payload=payload or None)
        uow.commit()


def test_replies_carry_ids_and_are_delivered_rows_of_the_web_outbox(client, rasa, db):
    client.get("/chat")
    messages = say(client, text=REPORT).json()["messages"]
    assert [m["text"] for m in messages] == [f"您反映的是：{REPORT}", "确认提交吗？"]
    resident_id = resident_of(db, web_id(rasa))
    for message in messages:
        row = outbox_row(db, message["id"])
        assert (row.channel, row.recipient, row.text) == (
            Channel.web, f"resident:{resident_id}", message["text"])
        assert row.sent_at is not None
    [stored] = inbound_rows(db)
    assert (stored.channel, stored.payload["text"]) == (Channel.web, REPORT)
    assert stored.processed_at is not None


def test_a_notice_queued_after_a_turn_is_returned_by_messages_and_marked_sent(client, rasa, db):
    client.get("/chat")
    last = say(client, text=REPORT).json()["messages"][-1]["id"]
    case_no = open_web_case(db, web_id(rasa))
    assert poll(client, last) == []  # the case was opened: no notice yet
    tell(db, case_no, f"工单 {case_no} 已由王网格员签收。")
    [notice] = poll(client, last)
    assert notice["text"] == f"工单 {case_no} 已由王网格员签收。" and notice["id"] > last
    assert outbox_row(db, notice["id"]).sent_at is not None
    assert poll(client, notice["id"]) == []
    assert [m["id"] for m in poll(client, last)] == [notice["id"]]  # re-read after a loss


def test_the_telegram_side_never_touches_a_web_notice(client, rasa, db):
    client.get("/chat")
    say(client, text=REPORT)
    tell(db, open_web_case(db, web_id(rasa)), "您的工单有新进展。")
    with db.uow() as uow:
        assert outbox.claim_due(uow, utcnow(), 10, channels=[Channel.telegram]) == []


def test_a_reload_with_a_new_session_and_the_same_resident_cookie_redraws_the_conversation(
        client, rasa, db, app):
    client.get("/chat")
    say(client, text=REPORT)
    say(client, payload="/deny")
    tell(db, open_web_case(db, web_id(rasa)), "您的工单有新进展。")
    with TestClient(app) as reloaded:  # a new session: only the year-long cookie is kept
        reloaded.cookies.set("minsheng_resident", client.cookies["minsheng_resident"])
        assert reloaded.get("/chat").status_code == 200
        history = reloaded.get("/chat/history").json()
        drawn = [(m["from"], m["text"]) for m in history["messages"]]
        assert drawn == [("me", REPORT), ("bot", f"您反映的是：{REPORT}"), ("bot", "确认提交吗？"),
                         ("me", "取消"), ("bot", "好的，已取消。"), ("bot", "您的工单有新进展。")]
        assert history["last"] == history["messages"][-1]["id"]
        say(reloaded, text="我的工单")
    assert {m["sender"] for m in rasa.received} == {f"web:{web_id(rasa)}"}


def test_a_forged_resident_cookie_starts_a_new_conversation(client, rasa, app):
    client.get("/chat")
    say(client, text=REPORT)
    with TestClient(app) as forger:
        forger.cookies.set("minsheng_resident", web_id(rasa) + ".forged")
        assert forger.get("/chat/history").json()["messages"] == []
        say(forger, text="你好")
    assert rasa.received[-1]["sender"] != rasa.received[0]["sender"]


def test_a_forged_payload_is_refused_and_a_notices_rating_button_is_accepted(
        client, rasa, db, world):
    client.get("/chat")
    say(client, text=REPORT)
    case_no = open_web_case(db, web_id(rasa))
    assert say(client, payload="/rate_satisfied").status_code == 400  # not offered yet
    with db.uow() as uow:
        handling.acknowledge(uow, case_no, world.worker1_id)
    with db.uow() as uow:
        handling.resolve(uow, case_no, world.worker1_id, "已清理", photos=["after.jpg"])
    [prompt] = poll_until(client, lambda ms: ms and ms[-1]["buttons"])[-1:]
    assert rasa.triggered[-1]["name"] == "start_rating"
    assert rasa.triggered[-1]["entities"] == {"case_no": case_no}
    assert [b["payload"] for b in prompt["buttons"]] == [
        "/rate_satisfied", "/rate_basically_satisfied", "/rate_dissatisfied"]
    forged = '/rate_satisfied{"case_no": "MS-20260101-0001"}'
    assert say(client, payload=forged).status_code == 400
    accepted = say(client, payload="/rate_satisfied")
    assert accepted.status_code == 200
    assert accepted.json()["messages"][0]["text"] == "收到您的评价，谢谢您的反馈！"
    assert rasa.received[-1]["message"] == "/rate_satisfied"
    assert forged not in [m["message"] for m in rasa.received]


def test_buttons_inside_a_queued_notice_are_on_offer_once_delivered(client, rasa, db):
    client.get("/chat")
    say(client, text=REPORT)
    say(client, payload="/deny")
    case_no = open_web_case(db, web_id(rasa))
    tell(db, case_no, "请评价", buttons=[{"title": "满意", "payload": "/rate_satisfied"}])
    assert say(client, payload="/rate_satisfied").status_code == 400  # not seen yet
    assert poll(client)[-1]["buttons"] == [{"title": "满意", "payload": "/rate_satisfied"}]
    assert say(client, payload="/rate_satisfied").status_code == 200


def test_rasa_down_tells_the_resident_in_chinese_and_keeps_the_message(client, rasa, db):
    client.get("/chat")
    rasa.stop()
    response = say(client, text="路灯不亮")
    assert response.status_code == 200
    [told] = response.json()["messages"]
    assert told["text"] == BUSY and told["id"] > 0
    [kept] = inbound_rows(db)
    assert kept.payload["text"] == "路灯不亮" and kept.processed_at is None
    assert kept.last_error.startswith("RasaUnavailable")


def test_a_silent_rasa_counts_as_unanswered_and_the_page_gets_the_answer_on_retry(
        client, rasa, db, app):
    app.state.webchat.retry_every = 0.0
    client.get("/chat")
    rasa.silent = True
    [told] = say(client, text=REPORT).json()["messages"]
    assert told["text"] == BUSY
    assert inbound_rows(db)[0].processed_at is None
    rasa.silent = False
    answered = poll(client, told["id"])
    assert [m["text"] for m in answered] == [f"您反映的是：{REPORT}", "确认提交吗？"]
    assert inbound_rows(db)[0].processed_at is not None
    assert say(client, payload="/affirm").status_code == 200  # the answer offered it
    assert rasa.messages_from(rasa.received[0]["sender"]).count(REPORT) == 2


async def test_a_kept_message_is_answered_by_the_sweep_while_the_page_is_closed(
        settings, db, rasa):
    import asyncio

    from bot.webchat.channel import WebChat

    chat = WebChat(settings, db, retry_every=0.0)
    rasa.silent = True
    [told] = await chat.send("closed-page", REPORT, REPORT)
    assert told.text == BUSY
    rasa.silent = False
    sweep = asyncio.create_task(chat.sweep_forever(interval=0.02))
    try:
        for _ in range(1500):  # up to 30 s on a loaded machine
            if inbound_rows(db)[0].processed_at is not None:
                break
            await asyncio.sleep(0.02)
    finally:
        sweep.cancel()  # and waited for: left pending, it is closed after the loop is gone
        await asyncio.gather(sweep, return_exceptions=True)
    resident_id = chat.store.resident_id("closed-page")
    texts = [m.text for m in chat.store.messages_after(resident_id, told.id)]
    assert texts == [f"您反映的是：{REPORT}", "确认提交吗？"]


async def test_a_send_answers_what_waits_before_it_in_order_and_stops_at_its_own_message(
        settings, db, rasa):
    """The kept older message goes to Rasa first, then the new one — and no claim after
    it: a newer message has its own send (or the sweep), so that claim only ever found
    nothing (a transaction per turn)."""
    from bot.webchat.channel import WebChat

    chat = WebChat(settings, db, retry_every=0.0)
    rasa.silent = True
    await chat.send("in-order", "路灯不亮", "路灯不亮")
    rasa.silent = False
    claimed, claim_next = [], chat.inbox.claim_next

    def counting(sender, lease=None):
        held = claim_next(sender, lease)
        claimed.append(held.payload["text"] if held else None)
        return held

    chat.inbox.claim_next = counting
    out = await chat.send("in-order", REPORT, REPORT)
    assert claimed == ["路灯不亮", REPORT]
    assert rasa.messages_from(rasa.received[-1]["sender"])[-2:] == ["路灯不亮", REPORT]
    assert out[0].text == "您反映的是：路灯不亮" and BUSY not in [m.text for m in out]
    assert all(row.processed_at is not None for row in inbound_rows(db))


def rejoin(client, case_no: str, tail: str):
    return client.post("/chat/rejoin", json={"case_no": case_no, "phone_tail": tail},
                       headers={"X-CSRFToken": csrf_of(client)})


def test_a_new_device_rejoins_with_the_case_number_and_the_phones_last_four_digits(
        client, rasa, db, app):
    client.get("/chat")
    say(client, text=REPORT)
    with db.uow() as uow:
        case_no = cases.open_case(uow, cases.NewCase(
            channel=Channel.web, idempotency_key=None, description=REPORT,
            category=Category.clutter, place=Place(xiaoqu="幸福小区"), phone="13812345678",
            resident=cases.ResidentRef(Channel.web, web_id(rasa)))).case_no
        uow.commit()
    with TestClient(app) as phone:
        phone.get("/chat")
        assert rejoin(phone, case_no, "1234").status_code == 400
        assert rejoin(phone, "MS-20990101-0001", "5678").status_code == 400
        joined = rejoin(phone, case_no.lower(), "5678")
        assert joined.status_code == 200, joined.text
        drawn = [m["text"] for m in phone.get("/chat/history").json()["messages"]]
        assert drawn[:2] == [REPORT, f"您反映的是：{REPORT}"]
        say(phone, text="查询进度")
    assert rasa.received[-1]["sender"] == rasa.received[0]["sender"]


def test_rejoin_attempts_are_limited(client, rasa, db):
    client.get("/chat")
    say(client, text=REPORT)
    case_no = open_web_case(db, web_id(rasa))
    codes = [rejoin(client, case_no, f"{n:04d}").status_code for n in range(6)]
    assert codes == [400] * 5 + [429]


def test_a_location_is_sent_as_a_share_location_intent_made_by_the_server(client, rasa):
    client.get("/chat")
    response = client.post("/chat/location", json={"lat": 38.0412, "lon": 114.5123},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 200
    assert rasa.received[-1]["message"] == '/share_location{"lat": 38.0412, "lon": 114.5123}'
    bad = client.post("/chat/location", json={"lat": "38}/greet", "lon": 114},
                      headers={"X-CSRFToken": csrf_of(client)})
    assert bad.status_code == 422
    assert len(rasa.received) == 1


async def test_the_rating_dialogue_leaves_through_the_core_outbox_and_waits_for_the_page(
        settings, db, rasa, world):
    """办结 queues a rating request; the core outbox sender (not the page) starts the
    rating in Rasa; the prompt waits, unsent and not yet on offer, until the page draws it.
    The 签收 notice is the page's to draw: the sender leaves it alone."""
    from bot.core.outbox import OutboxSender
    from bot.core.rasa import RasaClient
    from bot.webchat.channel import WebChat

    chat = WebChat(settings, db)
    await chat.send("closed-page", REPORT, REPORT)
    case_no = open_web_case(db, "closed-page")
    with db.uow() as uow:
        handling.acknowledge(uow, case_no, world.worker1_id)
    with db.uow() as uow:
        handling.resolve(uow, case_no, world.worker1_id, "已清理", photos=["after.jpg"])
    assert rasa.triggered == []
    async with RasaClient(settings.rasa_url, settings.rasa_token) as client:
        chat.rasa = client
        await OutboxSender(db, [chat]).send_due()
    assert [(t["sender"], t["name"], t["entities"]) for t in rasa.triggered] == [
        ("web:closed-page", "start_rating", {"case_no": case_no})]
    resident_id = chat.store.resident_id("closed-page")
    with db.uow() as uow:
        rows = outbox.conversation(uow, Channel.web, f"resident:{resident_id}")
        notice, request, prompt = [r for r in rows if r.kind != "reply" or r.sent_at is None]
        assert (notice.kind, notice.sent_at, notice.attempts) == ("notice_acknowledged", None, 0)
        assert request.kind == "rating_request" and request.sent_at is not None
        assert prompt.sent_at is None and "满意吗" in prompt.text
        prompt_id, request_id = prompt.id, request.id
    assert chat.store.offered_to("closed-page", "/rate_satisfied") == (resident_id, None)
    fetched = await chat.messages("closed-page", 0)
    assert [m.id for m in fetched][-1] == prompt_id  # the request itself is not shown
    assert request_id not in [m.id for m in fetched]
    assert fetched[-1].buttons[0] == {"title": "满意", "payload": "/rate_satisfied"}
    assert chat.store.offered_to("closed-page", "/rate_satisfied") == (resident_id, "满意")
    assert outbox_row(db, prompt_id).sent_at is not None
    await OutboxSender(db, [chat]).send_due()  # nothing more: the rating started once
    assert len(rasa.triggered) == 1


def test_an_open_page_gets_the_rating_prompt_by_server_sent_events_without_asking(
        client, rasa, db, app, world):
    from web.chat import SseSettings

    app.state.sse = SseSettings(tick=0.05, lifetime=4.0)
    client.get("/chat")
    last = say(client, text=REPORT).json()["messages"][-1]["id"]
    case_no = open_web_case(db, web_id(rasa))
    with db.uow() as uow:
        handling.acknowledge(uow, case_no, world.worker1_id)
    with db.uow() as uow:
        handling.resolve(uow, case_no, world.worker1_id, "已清理", photos=["after.jpg"])
    stream = client.get("/chat/events", params={"after": last})
    pushed = [json.loads(e.split("data: ", 1)[1]) for e in stream.text.split("\n\n")
              if e.startswith("id: ")]
    assert pushed[0]["text"].startswith("您反映的")  # 签收
    assert pushed[-1]["text"] == f"您反映的问题（工单 {case_no}）已经办结。对处理结果满意吗？"
    assert [b["title"] for b in pushed[-1]["buttons"]] == ["满意", "基本满意", "不满意"]
    assert [t["entities"] for t in rasa.triggered] == [{"case_no": case_no}]


def test_a_rating_that_can_never_start_shows_its_own_text_and_rating_buttons(
        client, rasa, db, world):
    """Rasa never started the dialogue (its attempts used up): the 办结 notice itself is
    shown, its buttons carrying the case number."""
    client.get("/chat")
    last = say(client, text=REPORT).json()["messages"][-1]["id"]
    rasa.silent = True
    case_no = open_web_case(db, web_id(rasa))
    with db.uow() as uow:
        handling.acknowledge(uow, case_no, world.worker1_id)
    with db.uow() as uow:
        handling.resolve(uow, case_no, world.worker1_id, "已清理", photos=["after.jpg"])
        request_id = next(r.id for r in outbox.pending(uow) if r.kind == "rating_request")
    assert poll_until(client, lambda ms: False, last, timeout=1.5)[-1]["buttons"] == []
    with db.uow() as uow:  # its attempts are used up
        outbox.mark_failed(uow, request_id, "Rasa: no messages", give_up=True)
        uow.commit()
    shown = poll(client, last)[-1]
    assert shown["id"] == request_id and "已办结" in shown["text"]
    assert case_no in shown["buttons"][0]["payload"]


def test_notices_are_pushed_as_server_sent_events_from_the_last_id_seen(client, rasa, db, app):
    from web.chat import SseSettings

    app.state.sse = SseSettings(tick=0.05, lifetime=0.3)
    client.get("/chat")
    last = say(client, text=REPORT).json()["messages"][-1]["id"]
    case_no = open_web_case(db, web_id(rasa))
    tell(db, case_no, "您的工单已签收。")
    tell(db, case_no, "您的工单有新进展。")
    stream = client.get("/chat/events", params={"after": last})
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [e for e in stream.text.split("\n\n") if e.startswith("id: ")]
    pushed = [json.loads(e.split("data: ", 1)[1]) for e in events]
    assert [m["text"] for m in pushed] == ["您的工单已签收。", "您的工单有新进展。"]
    assert all(m["id"] > last for m in pushed)
    again = client.get("/chat/events", headers={"Last-Event-ID": str(pushed[0]["id"])})
    assert [e for e in again.text.split("\n\n") if e.startswith("id: ")] == events[1:]


async def test_two_web_processes_never_take_the_same_message_and_a_dead_ones_is_retaken(
        settings, db, rasa):
    """Two web processes on one database: a message the first holds (then it is killed)
    is not taken by the second, not even by its sweep, until the lease runs out — a
    second or so, not a minute — and is then answered once, after a look in Rasa's
    tracker."""
    import asyncio

    from bot.core.inbound import InboundStore, Incoming
    from bot.webchat.channel import WebChat
    from bot.webchat.store import sender_of

    killed, alive = WebChat(settings, db, retry_every=0.0), WebChat(settings, db,
                                                                    retry_every=0.0)
    killed.inbox = InboundStore(db, Channel.web, lease=1.0)
    await asyncio.to_thread(killed.store.resident_id, "two-procs", True)
    await asyncio.to_thread(killed.inbox.add, Incoming("m-1", sender_of("two-procs"),
                                                       {"rasa": REPORT, "text": REPORT}))
    assert await asyncio.to_thread(killed.inbox.claim_next, sender_of("two-procs"))
    assert await alive.messages("two-procs", 0) == []
    await alive.sweep(stale_after=0.0)
    assert rasa.received == [] and inbound_rows(db)[0].processed_at is None
    await asyncio.sleep(1.2)
    # both processes (the killed one restarted) sweep at once: one of them takes it
    await asyncio.gather(alive.sweep(stale_after=0.0), killed.sweep(stale_after=0.0))
    fetched = await alive.messages("two-procs", 0)
    assert [m.text for m in fetched] == [f"您反映的是：{REPORT}", "确认提交吗？"]
    assert rasa.messages_from(sender_of("two-procs")) == [REPORT]
    assert inbound_rows(db)[0].processed_at is not None


async def test_a_message_rasa_never_answers_is_given_up_after_the_limit_every_channel_has(
        settings, db, rasa):
    import asyncio

    from bot.core.inbound import EMPTY_ATTEMPTS
    from bot.core.texts import NO_REPLY
    from bot.gateway import GatewayOptions
    from bot.webchat.channel import WebChat
    from bot.webchat.store import sender_of

    assert GatewayOptions().empty_attempts == EMPTY_ATTEMPTS  # Telegram's is the same
    chat = WebChat(settings, db, retry_every=0.0)
    rasa.silent = True
    [told] = await chat.send("never", REPORT, REPORT)
    assert told.text == BUSY
    seen, last = [], told.id
    for _ in range(EMPTY_ATTEMPTS + 2):  # the page polling (each poll retries once)
        fetched = await chat.messages("never", last)
        seen += [m.text for m in fetched]
        last = max([last] + [m.id for m in fetched])
        await asyncio.sleep(0)
    assert seen[-1] == NO_REPLY and seen.count(NO_REPLY) == 1
    assert rasa.messages_from(sender_of("never")) == [REPORT] * EMPTY_ATTEMPTS
    [row] = inbound_rows(db)
    assert row.processed_at is not None and row.last_error.startswith("EmptyTurn")
