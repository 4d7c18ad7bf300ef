"""Phone and ID numbers are masked outside the case itself; raw payloads do not stay."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from minsheng import nlu_log, privacy
from minsheng.enums import Channel
from minsheng.models import InboundMessage, NluMessage

NOW = datetime(2026, 12, 6, 8, 0)


@pytest.mark.parametrize("text,masked", [
    ("我的电话13812345678", "我的电话138****5678"),
    ("+86 138-1234-5678 找我", "138****5678 找我"),
    ("打0311-86012345", "打0311-****2345"),
    ("身份证130102199003071234", "身份证130102********1234"),
    ("身份证13010219900307123X。", "身份证130102********123X。"),
])
def test_phone_and_id_numbers_are_masked(text, masked):
    assert privacy.redact(text) == masked


@pytest.mark.parametrize("text", ["3号楼2单元501室", "MS-20261206-0007", "供暖温度18度，已经3天了",
                                  "编号202612061234567890123"])
def test_addresses_case_numbers_and_other_numbers_are_left_alone(text):
    assert privacy.redact(text) == text


def test_a_log_line_with_a_phone_number_is_masked_by_the_handler(caplog):
    logger = logging.getLogger("minsheng.test.privacy")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())
    handler.addFilter(privacy.RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("resident %s said %s", "telegram:1", "电话13812345678")
    finally:
        logger.removeHandler(handler)
    assert seen == ["resident telegram:1 said 电话138****5678"]


def test_the_nlu_log_and_its_review_queue_never_hold_a_full_phone_number(db):
    with db.uow() as uow:
        nlu_log.record_prediction(uow, "web", "web:x", "电话13812345678，楼道堆满杂物",
                                  "clutter", 0.3)
        # a row written before masking existed
        uow.session.add(NluMessage(at=NOW, sender="web:y", text="身份证130102199003071234",
                                   predicted_label="out_of_scope", confidence=0.2))
        uow.commit()
        stored = list(uow.session.execute(select(NluMessage.text).order_by(NluMessage.id))
                      .scalars())
        review = nlu_log.export_review(uow, 0.55, mark_exported=False)
    assert stored[0] == "电话138****5678，楼道堆满杂物"
    assert [r.text for r in review] == ["电话138****5678，楼道堆满杂物",
                                        "身份证130102********1234"]


def test_processed_payloads_older_than_the_retention_are_emptied_and_nothing_else(db):
    def inbound(external_id: str, days_ago: int, processed: bool) -> InboundMessage:
        at = NOW - timedelta(days=days_ago)
        return InboundMessage(channel=Channel.telegram, external_id=external_id,
                              sender="telegram:7", payload={"text": "我家电话13812345678"},
                              received_at=at, processed_at=at if processed else None)

    with db.uow() as uow:
        uow.session.add_all([inbound("1", 31, True), inbound("2", 29, True),
                             inbound("3", 40, False)])
        uow.commit()
        assert privacy.purge_inbound(uow, NOW, 30) == 1
        uow.commit()
        assert privacy.purge_inbound(uow, NOW, 30) == 0  # a purged row is not rewritten
        rows = {r.external_id: (r.payload, r.sender)
                for r in uow.session.execute(select(InboundMessage)).scalars()}
    assert rows["1"] == (privacy.PURGED, None)
    assert rows["2"][1] and rows["3"][1]  # recent, or not answered yet: kept as they were
    assert "13812345678" in rows["2"][0]["text"] and "13812345678" in rows["3"][0]["text"]
