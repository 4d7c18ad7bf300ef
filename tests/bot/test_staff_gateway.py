"""Grid staff through the real gateway: cards, buttons checked against the database,
notes by ForceReply, the rating started through Rasa, and the outbox retrying."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import CaseEvent, OutboxMessage
from tests.bot.seed import (
    CASE_NO,
    OTHER_CASE_NO,
    OTHER_WORKER_TG,
    RESIDENT_TG,
    WORKER_TG,
    case_state,
    seed_cases,
)
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa
from tests.botapi.server import BotApiServer

# The gateway imports the case services (minsheng/services), merged separately.


@pytest.fixture
def seeded(db):
    return seed_cases(db)


async def wait_until(condition, timeout: float = 5.0, step: float = 0.02):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
    return value


def events_of(db, case_no_: str) -> list[str]:
    from minsheng.models import Case

    with db.uow() as uow:
        return list(uow.session.execute(
            select(CaseEvent.action).join(Case, Case.id == CaseEvent.case_id)
            .where(Case.case_no == case_no_).order_by(CaseEvent.id)).scalars())


def outbox_rows(db, **where) -> list[SimpleNamespace]:
    with db.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return [SimpleNamespace(id=r.id, kind=r.kind, recipient=r.recipient,
                                attempts=r.attempts, sent_at=r.sent_at,
                                last_error=r.last_error, payload=r.payload)
                for r in uow.session.execute(query).scalars()]


def button(call, title: str) -> str:
    [data] = [b["callback_data"] for b in call.buttons if b["text"] == title]
    return data


async def press(bot_api: BotApiServer, user_id: int, data: str, message=None) -> None:
    await bot_api.push(updates.callback_update(user_id, data, message))


def force_reply_prompts(calls):
    return [c for c in calls if c.method == "sendMessage" and c.chat_id == WORKER_TG
            and (c.params.get("reply_markup") or {}).get("force_reply")]


def nth_picker(calls, n: int):
    """The n-th department picker sent to the worker (each press sends a new one)."""
    pickers = [c for c in calls if c.chat_id == WORKER_TG and "请选择部门" in (c.text or "")]
    return pickers[n - 1] if len(pickers) >= n else None


async def resolve_prompt(bot_api: BotApiServer, method: str, departments=()):
    """Press 办结, then the method (and departments): the note prompt that follows."""
    await press(bot_api, WORKER_TG, f"s:resolve:{CASE_NO}")
    choice = await bot_api.wait_for(lambda calls: next(
        (c for c in calls if c.chat_id == WORKER_TG and "请选择处理方式" in (c.text or "")),
        None))
    assert [b["text"] for b in choice.buttons] == [
        "即时办理", "网格处置", "社区协调", "街道吹哨", "联席会议", "转办"]
    await press(bot_api, WORKER_TG, button(choice, method))
    for n, name in enumerate([*departments, "选好了"] if departments else [], 1):
        picker = await bot_api.wait_for(lambda calls, n=n: nth_picker(calls, n))
        await press(bot_api, WORKER_TG, button(picker, name))
    return await bot_api.wait_for(lambda calls: next(iter(force_reply_prompts(calls)), None))


async def reply_with_photo(bot_api: BotApiServer, prompt, caption: str, file_id="done-1"):
    from tests.factories import jpeg_bytes

    bot_api.add_file(file_id, jpeg_bytes())
    update = updates.photo_update(WORKER_TG, file_id, size=len(jpeg_bytes()), caption=caption)
    update["message"]["reply_to_message"] = updates.sent_message(prompt.result)
    await bot_api.push(update)


async def test_tasks_lists_the_workers_open_cases_with_deadlines_and_buttons(
        gateway, bot_api: BotApiServer, seeded, rasa: FakeRasa):
    await bot_api.push(updates.message_update(WORKER_TG, "/tasks"))
    summary, card = await bot_api.wait_for_messages(WORKER_TG, count=2)
    assert CASE_NO in summary.text and "办结时限" in summary.text
    assert OTHER_CASE_NO not in summary.text  # another worker's case
    assert [b["text"] for b in card.buttons] == ["签收", "上报", "退回", "加签"]
    assert card.params["parse_mode"] == "HTML"
    # the resident's text is escaped for HTML, the phone is masked
    assert "&lt;b&gt;快来&lt;/b&gt; &amp;" in card.text
    assert "13800138000" not in card.text
    assert rasa.received == []


async def test_staff_acknowledge_by_button_changes_the_case_and_redraws_the_card(
        gateway, bot_api: BotApiServer, db, seeded):
    await bot_api.push(updates.message_update(WORKER_TG, "/tasks"))
    _, card = await bot_api.wait_for_messages(WORKER_TG, count=2)
    await press(bot_api, WORKER_TG, button(card, "签收"), updates.sent_message(card.result))
    [edited] = await bot_api.wait_for(lambda calls: [c for c in calls
                                                     if c.method == "editMessageText"])
    assert case_state(db, CASE_NO) == "acknowledged"
    # the lifecycle allows 退回 from acknowledged, so the table offers it (it used to drift)
    assert [b["text"] for b in edited.buttons] == ["进展", "办结", "上报", "退回", "申请延期", "加签",
                                                   "居民电话"]
    assert bot_api.calls_of("answerCallbackQuery")
    # pressing 签收 again (an old card) changes nothing
    await press(bot_api, WORKER_TG, button(card, "签收"), updates.sent_message(card.result))
    await bot_api.wait_for_messages(WORKER_TG, count=4)
    assert events_of(db, CASE_NO).count("acknowledge") == 1


async def test_resolving_with_a_note_starts_the_rating_through_rasa(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db, seeded):
    await press(bot_api, WORKER_TG, f"s:ack:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    prompt = await resolve_prompt(bot_api, "网格处置")
    assert CASE_NO in prompt.text and "处理方式：网格处置" in prompt.text
    await reply_with_photo(bot_api, prompt, "杂物已清理干净")  # 乱堆乱放: a photo is required
    await wait_until(lambda: case_state(db, CASE_NO) == "resolved")
    # the domain queued a rating request; the gateway asks Rasa to start the rating …
    await wait_until(lambda: rasa.triggered)
    assert rasa.triggered[0]["name"] == "start_rating"
    assert rasa.triggered[0]["entities"] == {"case_no": CASE_NO}
    assert rasa.triggered[0]["sender"] == f"telegram:{RESIDENT_TG}"
    # … and delivers its question with the rating buttons to the resident (who was told
    # of the 签收 first)
    told, question = await bot_api.wait_for_messages(RESIDENT_TG, count=2)
    assert "签收" in told.text and CASE_NO in told.text
    assert [b["text"] for b in question.buttons] == ["满意", "基本满意", "不满意"]
    await wait_until(lambda: all(r.sent_at for r in outbox_rows(db, kind="rating_request")))


async def test_a_rating_rasa_starts_with_no_messages_is_asked_again_not_lost(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db, seeded):
    """With the action server down Rasa answers trigger_intent with no messages; the
    request must stay in the outbox, not be marked sent with nothing delivered."""
    rasa.silent_triggers = 1
    await press(bot_api, WORKER_TG, f"s:ack:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    prompt = await resolve_prompt(bot_api, "即时办理")
    await reply_with_photo(bot_api, prompt, "杂物已清理干净")
    question = await bot_api.wait_for(lambda calls: next(  # after the 签收 notice
        (c for c in bot_api.sent_to(RESIDENT_TG) if c.buttons), None), timeout=10)
    assert [b["text"] for b in question.buttons] == ["满意", "基本满意", "不满意"]
    assert len(rasa.triggered) == 2


async def test_a_forged_case_number_is_refused_and_changes_nothing(
        gateway, bot_api: BotApiServer, db, seeded, caplog):
    await press(bot_api, WORKER_TG, "s:ack:MS-20261122-9999")
    await press(bot_api, WORKER_TG, "s:resolve:MS-2026'; DROP TABLE cases;--")
    [first, second] = await bot_api.wait_for_messages(WORKER_TG, count=2)
    assert "无权" in first.text and "无权" in second.text
    assert "refused staff callback" in caplog.text
    assert case_state(db, CASE_NO) == "assigned"


async def test_another_workers_case_is_refused(gateway, bot_api: BotApiServer, db, seeded):
    await press(bot_api, WORKER_TG, f"s:ack:{OTHER_CASE_NO}")
    [reply] = await bot_api.wait_for_messages(WORKER_TG)
    assert "无权" in reply.text
    assert case_state(db, OTHER_CASE_NO) == "assigned"
    # its own worker may
    await press(bot_api, OTHER_WORKER_TG, f"s:ack:{OTHER_CASE_NO}")
    await wait_until(lambda: case_state(db, OTHER_CASE_NO) == "acknowledged")


async def test_a_non_staff_user_pressing_staff_buttons_is_refused(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db, seeded, caplog):
    await press(bot_api, RESIDENT_TG, f"s:ack:{CASE_NO}")
    [answer] = await bot_api.wait_for(lambda calls: [
        c for c in calls if c.method == "answerCallbackQuery" and c.params.get("text")])
    assert "网格员" in answer.params["text"]
    await bot_api.push(updates.message_update(RESIDENT_TG, "/tasks"))
    [reply] = await bot_api.wait_for_messages(RESIDENT_TG)
    assert "网格员" in reply.text
    assert case_state(db, CASE_NO) == "assigned"
    assert rasa.received == []
    assert "non-staff user" in caplog.text


async def test_a_failed_outbox_send_is_retried_and_delivered_once(
        gateway, bot_api: BotApiServer, db, seeded):
    from bot.delivery import NETWORK_ATTEMPTS

    # more failures in a row than a send retries by itself: the outbox's back-off takes over
    bot_api.fail("sendMessage", times=NETWORK_ATTEMPTS, error_code=502,
                 description="Bad Gateway")
    now = utcnow()
    with db.uow() as uow:
        uow.session.add(OutboxMessage(
            channel=Channel.telegram, recipient=f"staff:{seeded.worker_id}",
            kind="case_assigned", text="您有新派单", payload={"case_no": CASE_NO},
            created_at=now, next_attempt_at=now))
        uow.commit()
    [failed] = await wait_until(lambda: [r for r in outbox_rows(db) if r.last_error])
    assert failed.sent_at is None and failed.attempts >= 1
    # the retry would come after a back-off; bring it forward instead of sleeping
    with db.uow() as uow:
        uow.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        uow.commit()
    await wait_until(lambda: [r for r in outbox_rows(db) if r.sent_at])
    [card] = await bot_api.wait_for_messages(WORKER_TG)
    assert "您有新派单" in card.text and CASE_NO in card.text
    assert [b["text"] for b in card.buttons] == ["签收", "上报", "退回", "加签"]
    assert len(bot_api.sent_to(WORKER_TG)) == 1


async def test_the_card_buttons_in_every_open_state_are_the_tables_telegram_actions(
        gateway, bot_api: BotApiServer, db, seeded):
    from minsheng import staff_actions
    from minsheng.enums import OPEN_STATES
    from minsheng.models import Case

    for count, state in enumerate(sorted(OPEN_STATES, key=str), start=1):
        with db.uow() as uow:
            uow.session.execute(update(Case).where(Case.case_no == CASE_NO).values(state=state))
            uow.commit()
        await bot_api.push(updates.message_update(WORKER_TG, "/tasks"))
        card = (await bot_api.wait_for_messages(WORKER_TG, count=2 * count))[-1]
        table = staff_actions.offered_to(SimpleNamespace(state=state), staff_actions.TELEGRAM,
                                         "owner")
        actions = [b for b in card.buttons if b["text"] != "居民电话"]  # not a state change
        assert [b["text"] for b in actions] == [a.label for a in table], state
        assert [b["callback_data"] for b in actions] == [
            f"s:{a.key}:{CASE_NO}" for a in table], state
    assert "签收" not in [a.label for a in staff_actions.offered("new", "telegram")]


def add_desk(db) -> None:
    from minsheng.enums import StaffRole
    from minsheng.models import Grid, Staff

    with db.uow() as uow:  # the community desk a returned case goes to
        community = uow.session.execute(select(Grid).where(Grid.code == "130102001")).scalar_one()
        uow.session.add(Staff(name="孙丽", public_name="孙社区", role=StaffRole.community,
                              grid_id=community.id))
        uow.commit()


async def reason_buttons(bot_api: BotApiServer):
    await press(bot_api, WORKER_TG, f"s:return:{CASE_NO}")
    return await bot_api.wait_for(lambda calls: next(
        (c for c in calls if c.method == "sendMessage" and c.chat_id == WORKER_TG
         and c.buttons), None))


async def test_return_by_button_offers_the_reason_codes_and_a_code_returns_at_once(
        gateway, bot_api: BotApiServer, db, seeded):
    add_desk(db)
    choices = await reason_buttons(bot_api)
    assert [b["text"] for b in choices.buttons] == [
        "不属于本网格", "不属于职责范围", "信息不全", "重复", "其他"]
    assert "return" not in events_of(db, CASE_NO)  # nothing happens before the reason
    await press(bot_api, WORKER_TG, button(choices, "不属于本网格"))
    await wait_until(lambda: "return" in events_of(db, CASE_NO))
    with db.uow() as uow:
        [event] = uow.session.execute(select(CaseEvent).where(
            CaseEvent.action == "return")).scalars().all()
        assert event.data["reason_code"] == "not_this_grid" and event.note == "不属于本网格"


async def test_a_forged_reason_code_is_refused(gateway, bot_api: BotApiServer, db, seeded):
    add_desk(db)
    await press(bot_api, WORKER_TG, f"s:return.lost:{CASE_NO}")
    await press(bot_api, OTHER_WORKER_TG, f"s:return.duplicate:{CASE_NO}")
    await bot_api.wait_for_messages(OTHER_WORKER_TG)
    await bot_api.wait_for_messages(WORKER_TG)
    assert "return" not in events_of(db, CASE_NO)


async def test_return_for_another_reason_asks_for_it_and_hands_the_case_to_the_desk(
        gateway, bot_api: BotApiServer, db, seeded):
    add_desk(db)
    choices = await reason_buttons(bot_api)
    await press(bot_api, WORKER_TG, button(choices, "其他"))
    prompt = await bot_api.wait_for(lambda calls: next(
        (c for c in calls if c.method == "sendMessage" and c.chat_id == WORKER_TG
         and (c.params.get("reply_markup") or {}).get("force_reply")), None))
    assert prompt.text.startswith(f"✍️ 退单说明｜{CASE_NO}")
    assert "return" not in events_of(db, CASE_NO)
    await bot_api.push(updates.reply_update(WORKER_TG, "不在本网格，是阳光花园的",
                                            updates.sent_message(prompt.result)))
    await wait_until(lambda: "return" in events_of(db, CASE_NO))
    with db.uow() as uow:
        notes = uow.session.execute(select(CaseEvent.note).where(
            CaseEvent.action == "return")).scalars().all()
    assert notes == ["不在本网格，是阳光花园的"]
    [done] = await bot_api.wait_for(lambda calls: [
        c for c in calls if c.method == "sendMessage" and c.chat_id == WORKER_TG
        and c.text.startswith("已退回")])
    assert CASE_NO in done.text


async def test_after_acknowledging_the_handler_can_see_the_residents_phone_and_it_is_recorded(
        gateway, bot_api: BotApiServer, seeded, rasa: FakeRasa, db):
    await bot_api.push(updates.message_update(WORKER_TG, "/tasks"))
    _, card = await bot_api.wait_for_messages(WORKER_TG, count=2)
    assert "居民电话" not in [b["text"] for b in card.buttons]  # not before 签收
    assert "13800138000" not in card.text
    await press(bot_api, WORKER_TG, button(card, "签收"), updates.sent_message(card.result))
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    redrawn = await bot_api.wait_for(lambda calls: [
        c for c in calls if c.method == "editMessageText" and c.buttons])
    phone_button = button(redrawn[-1], "居民电话")
    await press(bot_api, WORKER_TG, phone_button)
    told = await bot_api.wait_for(lambda calls: [
        c for c in calls if c.method == "sendMessage" and "13800138000" in c.text])
    assert CASE_NO in told[0].text and "已记录" in told[0].text
    assert events_of(db, CASE_NO).count("phone_viewed") == 1
    # another worker pressing the same button data learns nothing
    await press(bot_api, OTHER_WORKER_TG, phone_button)
    await bot_api.wait_for_messages(OTHER_WORKER_TG)
    assert all("13800138000" not in c.text for c in bot_api.sent_to(OTHER_WORKER_TG))
    assert events_of(db, CASE_NO).count("phone_viewed") == 1


async def test_resolve_asks_the_method_then_departments_and_needs_the_photo(
        gateway, bot_api: BotApiServer, db, seeded, settings):
    from minsheng.models import Case, CaseHandlingDepartment, CasePhoto, Department

    with db.uow() as uow:
        uow.session.add_all([Department(name="城管执法中队", active=True),
                             Department(name="环卫所", active=True),
                             Department(name="已撤销的科室", active=False)])
        uow.commit()
    await press(bot_api, WORKER_TG, f"s:ack:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    prompt = await resolve_prompt(bot_api, "街道吹哨", departments=["城管执法中队", "环卫所"])
    assert "处理方式：街道吹哨（城管执法中队、环卫所）" in prompt.text
    assert "须附现场照片" in prompt.text
    # a text reply without the photo is refused with the reason; nothing changes
    await bot_api.push(updates.reply_update(WORKER_TG, "已清运",
                                            updates.sent_message(prompt.result)))
    [refused] = await bot_api.wait_for(lambda calls: [
        c for c in calls if c.chat_id == WORKER_TG and (c.text or "").startswith("办结未完成")])
    assert "须附一张处置后的现场照片" in refused.text
    assert case_state(db, CASE_NO) == "acknowledged"
    await reply_with_photo(bot_api, prompt, "城管和环卫所到场清运")
    await wait_until(lambda: case_state(db, CASE_NO) == "resolved")
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == CASE_NO)).scalar_one()
        named = [r.department.name for r in uow.session.execute(select(
            CaseHandlingDepartment).where(CaseHandlingDepartment.case_id == case.id)).scalars()]
        photos = uow.session.execute(select(CasePhoto.path).where(
            CasePhoto.case_id == case.id)).scalars().all()
        assert str(case.handling) == "street_whistle"
    assert named == ["城管执法中队", "环卫所"]
    assert len(photos) == 1 and photos[0].startswith(str(settings.photos_dir))


async def test_a_forged_method_button_is_refused(gateway, bot_api: BotApiServer, db, seeded):
    await press(bot_api, WORKER_TG, f"s:ack:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    await press(bot_api, WORKER_TG, f"s:m:by_magic::{CASE_NO}")
    await press(bot_api, OTHER_WORKER_TG, f"s:m:grid::{CASE_NO}")
    def refusals_of(calls):
        found = [c for c in calls if c.method == "sendMessage"
                 and c.chat_id in (WORKER_TG, OTHER_WORKER_TG)
                 and "办结说明" not in (c.text or "") and "签收" not in (c.text or "")]
        return found if len(found) >= 2 else None

    refusals = await bot_api.wait_for(refusals_of)
    assert {c.chat_id for c in refusals} == {WORKER_TG, OTHER_WORKER_TG}
    assert not force_reply_prompts(bot_api.calls)
    assert case_state(db, CASE_NO) == "acknowledged"
