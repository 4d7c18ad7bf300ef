"""匿名反映: staff see no name, phone or sender; the resident is still told and still rates."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import render
from minsheng import case_sheet
from minsheng.enums import Category, FeedbackRoute, Rating
from minsheng.errors import InvalidInput, NotAllowed
from minsheng.models import Case, CaseEvent, OutboxMessage
from minsheng.services import cases, contact
from tests.factories import T0, report, resident

NAME, DIGITS = "居民1", "5678"  # the factories' resident and the end of their phone


def anonymous_report(**overrides):
    values = {"category": Category.public_order, "description": "楼下有人深夜聚众赌博",
              "anonymous": True}
    values.update(overrides)
    return report(**values)


@pytest.fixture
def case_no(db, world):
    with db.uow() as uow:
        return cases.open_case(uow, anonymous_report(), now=T0).case_no


def view(db, case_no):
    with db.uow() as uow:
        return cases.get_case(uow, case_no)


def test_an_anonymous_case_keeps_the_resident_but_its_view_names_no_one(db, case_no):
    with db.uow() as uow:
        row = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
        assert row.anonymous and row.resident_id is not None and row.phone == "13812345678"
        opened = uow.session.execute(select(CaseEvent).where(
            CaseEvent.case_id == row.id, CaseEvent.action == "open")).scalar_one()
        assert opened.data == {"anonymous": True} and "匿名" in opened.note
    shown = view(db, case_no)
    assert shown.anonymous and shown.phone is None and shown.resident_id is None
    assert all(e.actor_id is None for e in shown.events if e.actor_type == "resident")


def test_a_named_case_still_shows_the_masked_phone(db, world):
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(category=Category.public_order), now=T0).case_no
    shown = view(db, case_no)
    assert not shown.anonymous and shown.phone == "138****5678" and shown.resident_id


@pytest.mark.parametrize("category", [c for c in Category
                                      if c not in (Category.public_order, Category.dispute)])
def test_other_categories_cannot_be_anonymous(db, world, category):
    with db.uow() as uow, pytest.raises(InvalidInput, match="治安稳定.*矛盾纠纷"):
        cases.open_case(uow, anonymous_report(category=category), now=T0)


def test_a_dispute_may_be_anonymous(db, world):
    with db.uow() as uow:
        case_no = cases.open_case(uow, anonymous_report(category=Category.dispute,
                                                        description="邻居家漏水协商不成"),
                                  now=T0).case_no
    assert view(db, case_no).anonymous


def test_the_handler_cannot_reveal_the_phone_even_after_acknowledging(db, world, case_no):
    worker = view(db, case_no).assignee_id
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker, now=T0 + timedelta(minutes=5))
    with db.uow() as uow, pytest.raises(NotAllowed, match="匿名反映"):
        contact.reveal_phone(uow, case_no, worker, T0 + timedelta(minutes=6))
    with db.uow() as uow:
        assert not uow.session.execute(select(CaseEvent).where(
            CaseEvent.action == "phone_viewed")).first()


def test_the_telegram_staff_card_and_its_buttons_show_no_identity(db, world, case_no):
    worker = view(db, case_no).assignee_id
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker, now=T0 + timedelta(minutes=5))
    shown = view(db, case_no)
    card = render.case_card(shown, "Asia/Shanghai")
    assert DIGITS not in card and NAME not in card and "匿名" in card
    keyboard = render.staff_keyboard(shown, "owner")
    titles = [b.text for row in keyboard.inline_keyboard for b in row]
    assert "居民电话" not in titles and "进展" in "".join(titles)


def test_staff_notices_carry_no_identity(db, world, case_no):
    with db.uow() as uow:
        texts = list(uow.session.execute(select(OutboxMessage.text).where(
            OutboxMessage.recipient.like("staff:%"))).scalars())
    assert texts and all(DIGITS not in t and NAME not in t for t in texts)


def test_the_case_sheet_names_no_one(db, case_no):
    import pypdfium2

    with db.uow() as uow:
        pdf = case_sheet.sheet_for(uow, case_no)
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "匿名反映" in text and case_no in text
    assert DIGITS not in text and "居*" not in text


def test_the_resident_is_told_every_step_and_rates_as_before(db, world, case_no):
    worker = view(db, case_no).assignee_id
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker, now=T0 + timedelta(minutes=5))
    with db.uow() as uow:
        cases.resolve(uow, case_no, worker, "已联系派出所处理", now=T0 + timedelta(hours=3))
    with db.uow() as uow:
        rows = uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.recipient.like("resident:%")).order_by(OutboxMessage.id)).scalars()
        kinds = [m.kind for m in rows]
    assert kinds == ["notice_acknowledged", "rating_request"]
    with db.uow() as uow:
        assert cases.rate(uow, case_no, Rating.satisfied, FeedbackRoute.online,
                          resident=resident(1))
    shown = view(db, case_no)
    assert shown.rating.value == "satisfied" and shown.state == "closed"
    with db.uow() as uow:  # the resident sees their own case in 我的工单
        assert [c.case_no for c in cases.cases_of_resident(uow, resident(1))] == [case_no]
