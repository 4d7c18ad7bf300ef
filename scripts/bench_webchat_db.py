"""The database work of one web chat turn, in-process: CPU milliseconds per turn.

What a turn of ``bot.webchat.channel.WebChat`` does between the resident's POST and the
response, Rasa left out: the resident looked up (or a pressed button checked), the message
stored, claimed, and answered with two replies (one with buttons) in one transaction that
also marks it answered and replaces the offered buttons. On a fresh SQLite file, or on the
database ``--url`` names (its tables are created; use a scratch database).

    .venv/bin/python scripts/bench_webchat_db.py [--turns 1000] [--url URL]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.inbound import InboundStore, Incoming
from bot.webchat.store import WebChatStore, sender_of
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import Base

REPLIES = [{"text": "好的，请问问题发生在哪里？",
            "buttons": [{"title": "跳过", "payload": "/skip"},
                        {"title": "取消", "payload": "/cancel"}]},
           {"text": "您也可以直接发送位置。"}]


class Turns:
    def __init__(self, db: Database, residents: int = 50) -> None:
        self.store, self.inbox = WebChatStore(db), InboundStore(db, Channel.web)
        self.ids = [uuid.uuid4().hex for _ in range(residents)]
        for external_id in self.ids:  # each with the buttons of an earlier answer
            self.store.answer(self.store.resident_id(external_id, True), REPLIES)

    def turn(self, i: int) -> None:
        """Even turns are typed messages, odd ones button presses (as in a report)."""
        external_id = self.ids[i % len(self.ids)]
        if i % 2:
            resident_id, title = self.store.offered_to(external_id, "/skip")
            assert title == "跳过", title
        else:
            resident_id = self.store.resident_id(external_id, True)
        self.inbox.add(Incoming(uuid.uuid4().hex, sender_of(external_id),
                                {"rasa": "跳过", "text": "跳过", "keep_offers": False}))
        held = self.inbox.claim_next(sender_of(external_id))
        out = self.store.answer(resident_id, REPLIES, answered=self.inbox.answered(held.key),
                                unless=self.inbox.answered_already(held.key))
        assert len(out) == 2 and out[0].buttons, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="a scratch database (default: a new SQLite file)")
    args = parser.parse_args(argv)
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-webchat-db-')}/chat.db"
    db = Database(url)
    Base.metadata.create_all(db.engine)
    turns = Turns(db)
    for i in range(200):  # warm: every statement compiled once
        turns.turn(i)
    print(f"web chat turn's database work on {db.engine.dialect.name}, "
          f"{args.turns} turns a round:")
    for _ in range(args.rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(args.turns):
            turns.turn(i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"  CPU {cpu / args.turns * 1000:.2f} ms/turn, wall {wall / args.turns * 1000:.2f} ms/turn")
    db.dispose()


if __name__ == "__main__":
    main()
