"""The Telegram outbox sender leases only Telegram rows; web rows belong to the web chat."""
from __future__ import annotations

from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.services import outbox
from tests.bot.seed import seed_cases
from tests.bot.test_staff_gateway import outbox_rows, wait_until


async def test_the_telegram_outbox_sender_never_claims_a_web_row(gateway, db, bot_api):
    seeded = seed_cases(db)
    with db.uow() as uow:
        web = outbox.enqueue(uow, Channel.web, f"resident:{seeded.resident_id}", "case_progress",
                             "您的工单有新进展。", now=utcnow())
        outbox.enqueue(uow, Channel.telegram, f"staff:{seeded.worker_id}", "case_assigned",
                       "新工单", payload={}, now=utcnow())
        uow.commit()
        web_id = web.id
    await wait_until(lambda: [r for r in outbox_rows(db, channel=Channel.telegram) if r.sent_at])
    [row] = outbox_rows(db, id=web_id)
    assert (row.attempts, row.sent_at, row.last_error) == (0, None, None)
