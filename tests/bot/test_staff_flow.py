"""催办, 延期 and the owner-only buttons through the real gateway (a local Bot API server)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from minsheng.models import Case
from tests.bot.seed import CASE_NO, WORKER_TG, case_state, seed_cases
from tests.bot.test_staff_gateway import events_of, press, wait_until
from tests.botapi import updates
from tests.botapi.server import BotApiServer

LEADER_TG = 5100009  # the grid leader of the seed, on the community node


def notice_to(bot_api: BotApiServer, chat_id: int, words: str):
    return [c for c in bot_api.calls if c.method == "sendMessage" and c.chat_id == chat_id
            and words in (c.text or "")]


async def force_reply_to(bot_api: BotApiServer, chat_id: int):
    """The next note prompt (a ForceReply message) the bot sent to ``chat_id``."""
    return await bot_api.wait_for(lambda calls: next(
        (c for c in calls if c.method == "sendMessage" and c.chat_id == chat_id
         and (c.params.get("reply_markup") or {}).get("force_reply")), None))


def deadline(db):
    with db.uow() as uow:
        return uow.session.execute(
            select(Case.resolve_deadline).where(Case.case_no == CASE_NO)).scalar_one()


async def test_after_escalating_only_the_new_owner_gets_buttons_and_old_ones_are_refused(
        gateway, bot_api: BotApiServer, db):
    seed_cases(db)
    await press(bot_api, WORKER_TG, f"s:escalate:{CASE_NO}")
    [moved] = await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "已转交"))
    [owner] = await bot_api.wait_for(lambda calls: notice_to(bot_api, LEADER_TG, "上报至您处理"))
    assert moved.buttons == [] and "签收" in [b["text"] for b in owner.buttons]
    await press(bot_api, WORKER_TG, f"s:acknowledge:{CASE_NO}")  # an old card's button
    await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "无权"))
    assert "acknowledge" not in events_of(db, CASE_NO)


async def test_an_extension_asked_by_reply_and_approved_by_the_leaders_button(
        gateway, bot_api: BotApiServer, db):
    seed_cases(db)
    before = deadline(db)
    await press(bot_api, WORKER_TG, f"s:acknowledge:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    await press(bot_api, WORKER_TG, f"s:request_extension:{CASE_NO}")
    prompt = await force_reply_to(bot_api, WORKER_TG)
    assert "工作日数 原因" in prompt.text
    await bot_api.push(updates.reply_update(WORKER_TG, "3天 等待燃气公司上门",
                                            updates.sent_message(prompt.result)))
    [asked] = await bot_api.wait_for(lambda calls: notice_to(bot_api, LEADER_TG, "申请延期3个工作日"))
    assert [b["text"] for b in asked.buttons] == ["同意延期", "不同意延期"]
    await press(bot_api, LEADER_TG, asked.buttons[0]["callback_data"])
    await wait_until(lambda: "approve_extension" in events_of(db, CASE_NO))
    assert deadline(db) > before + timedelta(days=2)  # 3 working days (exact sums: unit tests)
    await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "同意延期3个工作日"))


async def test_a_garbled_extension_reply_is_answered_in_chinese(gateway, bot_api, db):
    seed_cases(db)
    await press(bot_api, WORKER_TG, f"s:acknowledge:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    await press(bot_api, WORKER_TG, f"s:request_extension:{CASE_NO}")
    prompt = await force_reply_to(bot_api, WORKER_TG)
    await bot_api.push(updates.reply_update(WORKER_TG, "过几天再说",
                                            updates.sent_message(prompt.result)))
    await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "天数 原因"))
    assert "request_extension" not in events_of(db, CASE_NO)


async def test_the_leader_urges_and_the_worker_is_told_but_a_worker_cannot_urge(
        gateway, bot_api: BotApiServer, db):
    seed_cases(db)
    await press(bot_api, WORKER_TG, f"s:urge:{CASE_NO}")
    await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "催办未完成"))
    await press(bot_api, LEADER_TG, f"s:urge:{CASE_NO}")
    await wait_until(lambda: "urge" in events_of(db, CASE_NO))
    [told] = await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "赵网格长催办"))
    assert "签收" in [b["text"] for b in told.buttons]  # the owner's card


async def test_cosign_by_reply_gives_the_co_handler_a_notes_only_card(
        gateway, bot_api: BotApiServer, db):
    from tests.bot.seed import OTHER_WORKER_TG

    seeded = seed_cases(db)
    await press(bot_api, WORKER_TG, f"s:acknowledge:{CASE_NO}")
    await wait_until(lambda: case_state(db, CASE_NO) == "acknowledged")
    await press(bot_api, WORKER_TG, f"s:cosign:{CASE_NO}")
    prompt = await force_reply_to(bot_api, WORKER_TG)
    await bot_api.push(updates.reply_update(WORKER_TG, "NOPE-1",
                                            updates.sent_message(prompt.result)))
    await bot_api.wait_for(lambda calls: notice_to(bot_api, WORKER_TG, "没有网格编码"))
    await bot_api.push(updates.reply_update(WORKER_TG, str(seeded.other_worker_id),
                                            updates.sent_message(prompt.result)))
    [told] = await bot_api.wait_for(lambda calls: notice_to(bot_api, OTHER_WORKER_TG,
                                                            "请协同办理"))
    assert [b["text"] for b in told.buttons] == ["进展"]
    await bot_api.push(updates.message_update(OTHER_WORKER_TG, "/tasks"))
    [card] = await bot_api.wait_for(lambda calls: notice_to(bot_api, OTHER_WORKER_TG,
                                                            "加签协办"))
    assert CASE_NO in card.text and [b["text"] for b in card.buttons] == ["进展"]
    await press(bot_api, OTHER_WORKER_TG, f"s:resolve:{CASE_NO}")  # not theirs to close
    await bot_api.wait_for(lambda calls: notice_to(bot_api, OTHER_WORKER_TG, "办结未完成"))
    assert case_state(db, CASE_NO) == "acknowledged"


def labels(markup) -> list[str] | None:
    return None if markup is None else [b.text for row in markup.inline_keyboard for b in row]


def test_a_notice_carries_the_owners_buttons_only_for_the_owner():
    from types import SimpleNamespace

    from bot.render import notice_keyboard

    case = SimpleNamespace(case_no=CASE_NO, state="acknowledged", assignee_id=1,
                           phone="138****8000", pending_extension="2天：等配件")
    owner = labels(notice_keyboard(case, {"case_no": CASE_NO, "to_staff_id": 1}))
    assert {"进展", "办结", "上报", "居民电话"} <= set(owner) and "催办" not in owner
    assert labels(notice_keyboard(case, {"case_no": CASE_NO})) == owner  # an older row
    assert notice_keyboard(case, {"case_no": CASE_NO, "to_staff_id": 2}) is None
    assert labels(notice_keyboard(case, {"to_staff_id": 3, "relation": "supervisor"})) == [
        "催办"]
    assert labels(notice_keyboard(case, {"to_staff_id": 3, "relation": "approver"})) == [
        "同意延期", "不同意延期"]
    assert labels(notice_keyboard(case, {"to_staff_id": 4, "relation": "cohandler"})) == [
        "进展"]
