"""WeChat notices: the core outbox sender hands the wechat rows to the WeChat adapter,
which sends them through WeChat's API."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.outbox import OutboxSender
from bot.core.rasa import RasaClient
from bot.wechat.api import WeChatApi
from bot.wechat.channel import WeChatChannel
from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import OutboxMessage
from minsheng.services import outbox
from tests.wechat.conftest import TEMPLATE_ID, wait_for, wechat_resident

OPENID = "oResident-Notices-01"  # wechat_resident's default
RATING_BUTTONS = [{"title": "满意", "payload": "/rate_satisfied"},
                  {"title": "不满意", "payload": "/rate_dissatisfied"}]


def queue(db, recipient: str, text: str, channel: Channel = Channel.wechat,
          kind: str = "acknowledged", at=None, **payload) -> int:
    with db.uow() as uow:
        row = outbox.enqueue(uow, channel, recipient, kind, text,
                             payload={"case_no": "MS-20261206-0001", **payload}, now=at)
        uow.commit()
        return row.id


def row_state(db, row_id: int) -> dict:
    with db.uow() as uow:
        row = uow.session.get(OutboxMessage, row_id)
        return {"sent": row.sent_at is not None, "failed": row.failed_at is not None,
                "attempts": row.attempts, "error": row.last_error,
                "next_attempt_at": row.next_attempt_at}


@pytest.fixture
async def build(settings, db):
    made: list[WeChatChannel] = []

    def make(template_id: str | None = None, **overrides) -> OutboxSender:
        api = WeChatApi(settings.wechat_api_base, settings.wechat_app_id,
                        settings.wechat_app_secret)
        configured = settings.copy(update={"wechat_template_id": template_id, **overrides})
        channel = WeChatChannel(configured, db, api, RasaClient(settings.rasa_url,
                                                                settings.rasa_token))
        made.append(channel)
        return OutboxSender(db, [channel])

    yield make
    for channel in made:
        await channel.api.close()
        await channel.rasa.close()


async def test_a_queued_notice_goes_out_by_custom_send_with_the_cached_access_token(
        db, wechat, build):
    resident = wechat_resident(db)
    first = queue(db, f"resident:{resident}", "您的工单 MS-20261206-0001 已签收。")
    second = queue(db, f"resident:{resident}", "王网格员正在处理，今天 18:00 前办结。")
    on_telegram = queue(db, "resident:999", "给 Telegram 的消息", channel=Channel.telegram)
    sender = build()

    assert await sender.send_due() == 2
    third = queue(db, f"resident:{resident}", "已办结。")
    assert await sender.send_due() == 1

    assert [c.body for c in wechat.custom_sends] == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": text}}
        for text in ("您的工单 MS-20261206-0001 已签收。", "王网格员正在处理，今天 18:00 前办结。",
                     "已办结。")]
    assert len(wechat.token_fetches) == 1
    assert {c.token for c in wechat.custom_sends} == {"ACCESS-TOKEN-1"}
    assert all(row_state(db, r)["sent"] for r in (first, second, third))
    assert row_state(db, on_telegram)["attempts"] == 0  # never claimed by the WeChat sender


async def test_notice_buttons_become_numbered_options_the_resident_answers_by_number(
        db, wechat, build):
    resident = wechat_resident(db)
    queue(db, f"resident:{resident}", "工单已办结，请评价：", buttons=RATING_BUTTONS)
    sender = build()
    await sender.send_due()
    content = wechat.custom_sends[0].body["text"]["content"]
    assert content.splitlines() == ["工单已办结，请评价：", "回复数字选择：", "1. 满意", "2. 不满意"]
    assert sender.adapters[Channel.wechat].offers.answer(OPENID, "2").payload == "/rate_dissatisfied"


QUEUED_AT = datetime(2026, 12, 6, 10, 30)  # naive UTC: 18:30 in Asia/Shanghai
ACKNOWLEDGED = "您反映的「楼道堆满杂物」（工单 MS-20261206-0001）已由幸福社区第一网格的王网格签收。"


async def test_outside_the_48_hour_window_a_notice_falls_back_to_the_template_message(
        db, wechat, build):
    resident = wechat_resident(db)
    wechat.window_closed.add(OPENID)
    row = queue(db, f"resident:{resident}", ACKNOWLEDGED, kind="notice_acknowledged",
                at=QUEUED_AT)

    assert await build(template_id=TEMPLATE_ID).send_due() == 1

    assert len(wechat.custom_sends) == 1  # tried first, refused with 45015
    [template] = wechat.template_sends
    assert template.body == {
        "touser": OPENID, "template_id": TEMPLATE_ID,
        "data": {"first": {"value": "民生说事 · 工单进展通知"},
                 "keyword1": {"value": "MS-20261206-0001"},
                 "keyword2": {"value": "已签收"},
                 "keyword3": {"value": "2026-12-06 18:30"},
                 "remark": {"value": ACKNOWLEDGED}}}
    assert template.token == "ACCESS-TOKEN-1"
    assert row_state(db, row)["sent"]


async def test_the_template_field_names_come_from_the_settings_and_unnamed_ones_are_left_out(
        db, wechat, build):
    resident = wechat_resident(db)
    wechat.window_closed.add(OPENID)
    queue(db, f"resident:{resident}", "工单已办结，请评价。", kind="rating_reminder",
          at=QUEUED_AT)
    fields = {"case_no": "character_string1", "state": "phrase2", "time": "time3"}

    assert await build(template_id=TEMPLATE_ID, wechat_template_fields=fields).send_due() == 1

    [template] = wechat.template_sends
    assert template.body["data"] == {"character_string1": {"value": "MS-20261206-0001"},
                                     "phrase2": {"value": "待评价"},
                                     "time3": {"value": "2026-12-06 18:30"}}


async def test_each_template_value_is_cut_to_what_its_field_takes_by_type_or_by_the_mapping(
        db, wechat, build):
    resident = wechat_resident(db)
    wechat.window_closed.add(OPENID)
    queue(db, f"resident:{resident}", ACKNOWLEDGED, kind="notice_acknowledged", at=QUEUED_AT)
    fields = {"case_no": "character_string1", "state": "phrase2", "remark": "thing4",
              "first": "first:6"}

    assert await build(template_id=TEMPLATE_ID, wechat_template_fields=fields).send_due() == 1

    [template] = wechat.template_sends
    values = {name: field["value"] for name, field in template.body["data"].items()}
    assert values == {"character_string1": "MS-20261206-0001", "phrase2": "已签收",
                      "thing4": ACKNOWLEDGED[:19] + "…", "first": "民生说事 …"}
    assert len(values["thing4"]) == 20 < len(ACKNOWLEDGED)


def test_a_template_field_with_a_cut_that_is_no_number_is_refused(tmp_path):
    from pydantic import ValidationError

    from minsheng.settings import Settings

    ok = Settings(_env_file=None, secrets_dir=tmp_path,
                  wechat_template_fields={"remark": "thing4:15"})
    assert ok.wechat_template_fields == {"remark": "thing4:15"}
    for bad in ("thing4:", "thing4:0", "thing4:twenty", "thing 4"):
        with pytest.raises(ValidationError, match="optional :N"):
            Settings(_env_file=None, secrets_dir=tmp_path,
                     wechat_template_fields={"remark": bad})

async def test_a_rating_prompt_with_photos_sends_its_text_then_the_photos_in_order(
        db, wechat, build, settings):
    from tests.wechat.conftest import png_bytes

    resident = wechat_resident(db)
    path = settings.photos_dir / "resolved" / "done.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(png_bytes((10, 10)))
    queue(db, f"resident:{resident}", "请评价", kind="rating_request")
    sender = build()
    rasa = RatingRasa(photos=[str(path)])
    await sender.adapters[Channel.wechat].rasa.close()
    sender.adapters[Channel.wechat].rasa = rasa

    assert await sender.send_due() == 1

    text, image = wechat.delivered_messages
    assert text["text"]["content"].startswith("工单 MS-20261206-0001 已办结，您满意吗？")
    assert image["msgtype"] == "image"
    assert wechat.upload_of(image["image"]["media_id"]) == png_bytes((10, 10))
    offers = sender.adapters[Channel.wechat].offers
    assert offers.answer(OPENID, "2").payload == "/rate_dissatisfied"  # kept by the photo


async def test_without_a_template_id_a_closed_window_marks_the_notice_failed_with_that_reason(
        db, wechat, build):
    resident = wechat_resident(db)
    wechat.window_closed.add(OPENID)
    row = queue(db, f"resident:{resident}", "您的工单已办结。")

    assert await build(template_id=None).send_due() == 0

    state = row_state(db, row)
    assert not state["sent"]
    assert state["error"].startswith("45015")
    assert "MINSHENG_WECHAT_TEMPLATE_ID" in state["error"]
    assert state["next_attempt_at"] > utcnow() + timedelta(seconds=10)  # the outbox's back-off
    assert wechat.template_sends == []


async def test_a_stale_access_token_is_fetched_again_and_the_call_made_once_more(
        db, wechat, build):
    resident = wechat_resident(db)
    sender = build()
    queue(db, f"resident:{resident}", "第一条")
    await sender.send_due()
    wechat.expire_tokens()  # e.g. another process fetched a new token
    row = queue(db, f"resident:{resident}", "第二条")
    assert await sender.send_due() == 1
    assert [c.token for c in wechat.custom_sends] == [
        "ACCESS-TOKEN-1", "ACCESS-TOKEN-1", "ACCESS-TOKEN-2"]
    assert len(wechat.token_fetches) == 2
    assert row_state(db, row)["sent"]


async def test_a_recipient_without_a_wechat_openid_is_failed_with_the_reason(db, wechat, build):
    row = queue(db, "staff:1", "新工单")
    assert await build().send_due() == 0
    assert "not reachable on wechat" in row_state(db, row)["error"]
    assert wechat.custom_sends == []


def test_a_resident_who_reported_on_wechat_is_told_on_wechat(db):
    from minsheng.models import Case
    from minsheng.services import notify
    from tests.web.conftest import open_case, seed_world

    seed_world(db)
    case_no = open_case(db, "幸福小区楼道堆满杂物", "幸福小区", channel="wechat")
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
        assert notify.tell_residents(uow, case, "progress", "正在处理", utcnow()) == 1
        uow.commit()
    with db.uow() as uow:
        channels = set(uow.session.execute(select(OutboxMessage.channel).where(
            OutboxMessage.kind == "progress")).scalars())
    assert channels == {Channel.wechat}


def test_the_web_app_sends_wechat_notices_in_the_background(client, db, wechat):
    resident = wechat_resident(db)
    row = queue(db, f"resident:{resident}", "您的工单已签收。")
    wait_for(lambda: row_state(db, row)["sent"])
    assert wechat.custom_sends[-1].body["text"]["content"] == "您的工单已签收。"


class RatingRasa:
    """Rasa's ``trigger_intent`` as the rating dialogue answers it (the fake Rasa of
    tests/web has no such endpoint)."""

    def __init__(self, photos: list[str] = ()) -> None:
        self.triggered: list[tuple[str, str, dict]] = []
        self.photos = list(photos)

    async def trigger_intent(self, sender: str, intent: str, entities: dict) -> list[dict]:
        self.triggered.append((sender, intent, entities))
        return [{"text": f"工单 {entities['case_no']} 已办结，您满意吗？",
                 "buttons": RATING_BUTTONS}] + [{"image": p} for p in self.photos]

    async def close(self) -> None:
        pass


async def test_a_rating_request_starts_the_rating_in_rasa_and_sends_its_options(
        db, wechat, build):
    resident = wechat_resident(db)
    row = queue(db, f"resident:{resident}", "请评价", kind="rating_request")
    sender = build()
    rasa = RatingRasa()
    await sender.adapters[Channel.wechat].rasa.close()
    sender.adapters[Channel.wechat].rasa = rasa

    assert await sender.send_due() == 1

    assert rasa.triggered == [(f"wechat:{OPENID}", "start_rating",
                               {"case_no": "MS-20261206-0001"})]
    content = wechat.custom_sends[0].body["text"]["content"]
    assert content.startswith("工单 MS-20261206-0001 已办结，您满意吗？")
    assert "1. 满意" in content
    assert sender.adapters[Channel.wechat].offers.answer(OPENID, "1").payload == "/rate_satisfied"
    assert row_state(db, row)["sent"]


async def test_a_resident_who_unfollowed_is_marked_unreachable_and_gets_no_more_notices(
        db, wechat, build):
    from minsheng.services import notify

    resident = wechat_resident(db)
    wechat.unfollowed.add(OPENID)
    row = queue(db, f"resident:{resident}", "您的工单已签收。")
    assert await build().send_due() == 0
    assert row_state(db, row)["error"].startswith("WeChatError: 43004")
    with db.uow() as uow:
        assert notify.online_channel(uow, resident) is None


async def test_a_notice_waits_while_an_older_one_to_the_same_resident_backs_off(
        db, wechat, build):
    resident = wechat_resident(db)
    other = wechat_resident(db, "oResident-Notices-02")
    wechat.window_closed.add(OPENID)
    sender = build(template_id=None)
    first = queue(db, f"resident:{resident}", "第一条")
    assert await sender.send_due() == 0  # refused: backing off
    wechat.window_closed.clear()
    second = queue(db, f"resident:{resident}", "第二条")
    elsewhere = queue(db, f"resident:{other}", "别人的")
    assert await sender.send_due() == 1  # only the other resident's
    assert not row_state(db, second)["sent"] and row_state(db, second)["attempts"] == 0

    with db.uow() as uow:  # the back-off runs out
        uow.session.get(OutboxMessage, first).next_attempt_at = utcnow()
        uow.commit()
    assert await sender.send_due() == 2
    mine = [c.body["text"]["content"] for c in wechat.custom_sends
            if c.body["touser"] == OPENID]
    assert mine == ["第一条", "第一条", "第二条"]  # refused once, then in order
    assert row_state(db, elsewhere)["sent"]


async def test_a_notice_of_several_pieces_whose_second_piece_failed_sends_only_the_rest(
        db, wechat, build):
    resident = wechat_resident(db)
    long = "\n".join(f"第{n}条进展：" + "网格员已到现场核实处理" * 30 for n in range(1, 6))
    row = queue(db, f"resident:{resident}", long)
    wechat.fail_call("/cgi-bin/message/custom/send", nth=2)  # "system busy", once
    sender = build()

    assert await sender.send_due() == 0
    state = row_state(db, row)
    assert not state["sent"] and state["error"].startswith("WeChatError: -1")
    first = [m["text"]["content"] for m in wechat.delivered_messages]
    assert len(first) == 1

    with db.uow() as uow:  # the back-off over: due again
        uow.session.get(OutboxMessage, row).next_attempt_at = utcnow()
        uow.commit()
    assert await sender.send_due() == 1

    texts = [m["text"]["content"] for m in wechat.delivered_messages]
    assert len(texts) >= 3 and texts[0] == first[0]
    assert len(set(texts)) == len(texts)  # no piece twice
    assert "".join(texts).replace("\n", "") == long.replace("\n", "")
    assert len(wechat.custom_sends) == len(texts) + 1  # the one refused call, not repeated
    assert row_state(db, row)["sent"]

