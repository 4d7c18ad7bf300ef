"""Benchmark the Telegram gateway (prints numbers; not a test).

N simulated residents talk in parallel through the real gateway process
(``python -m bot``, polling) against our local Bot API server; Rasa is a fake with
realistic latency unless ``--rasa-url`` points at a real one. Reply latency is the time
from an update being queued on the Bot API server to the bot's answer arriving there.

    .venv/bin/python scripts/bench_bot.py --residents 20 --turns 10
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minsheng.migrate import upgrade
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa, realistic_latency
from tests.botapi.server import TOKEN, BotApiServer

MESSAGES = ["你好", "3号楼楼道里堆满了杂物", "在幸福小区3号楼2单元", "不用了", "确认",
            "我的工单", "进度怎么样了", "谢谢", "垃圾好几天没人收了", "东门的路灯不亮"]


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


async def resident(server: BotApiServer, user_id: int, turns: int, think: float,
                   latencies: list[float], lost: list[int]) -> None:
    for _ in range(turns):
        await asyncio.sleep(random.uniform(0, 2 * think))
        # A real Rasa may answer a turn with several messages: the reply to this turn is
        # the first message sent after the update was queued.
        before = len(server.sent_to(user_id))
        started = time.monotonic()
        await server.push(updates.message_update(user_id, random.choice(MESSAGES)))
        try:
            replies = await server.wait_for_messages(user_id, count=before + 1, timeout=30)
        except AssertionError:
            lost.append(user_id)
            return
        latencies.append(replies[before].at - started)
        await _until_quiet(server, user_id)


async def _until_quiet(server: BotApiServer, user_id: int, quiet: float = 0.3) -> None:
    """Wait until the bot has finished the turn's messages, as a resident reads them all,
    so a late message of this turn is never taken for the reply to the next."""
    count = -1
    while count != len(server.sent_to(user_id)):
        count = len(server.sent_to(user_id))
        await asyncio.sleep(quiet)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def bench(args: argparse.Namespace) -> None:
    server = await BotApiServer().start()
    fake = None
    rasa_url, rasa_token = args.rasa_url, args.rasa_token
    if rasa_url is None:
        fake = await FakeRasa(latency=realistic_latency(args.rasa_ms / 1000,
                                                        args.rasa_ms / 2000)).start()
        rasa_url, rasa_token = fake.url, fake.token
    workdir = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(database_url)
    env = {**os.environ,
           "MINSHENG_TELEGRAM_BOT_TOKEN": TOKEN,
           "MINSHENG_TELEGRAM_BASE_URL": server.base_url,
           "MINSHENG_RASA_URL": rasa_url,
           "MINSHENG_RASA_TOKEN": rasa_token,
           "MINSHENG_DATABASE_URL": database_url,
           "MINSHENG_PHOTOS_DIR": str(workdir / "photos")}
    # started once, before the load: Popen returns at once, the gateway runs apart
    gateway = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env,  # noqa: ASYNC220
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await server.wait_for(lambda calls: any(c.method == "getMe" for c in calls), 30)
        # warm-up: one turn so connections and caches exist
        await server.push(updates.message_update(1, "你好"))
        await server.wait_for_messages(1, 1, timeout=30)
        rss_before, _ = rss_kib(gateway.pid)

        latencies: list[float] = []
        lost: list[int] = []
        started = time.monotonic()
        # Fresh user ids each run: a real Rasa keeps trackers, and residents replayed
        # from an earlier run would carry (and reload) that run's whole conversation.
        first_id = random.randrange(10**6, 10**9)
        await asyncio.gather(*(
            resident(server, first_id + n, args.turns, args.think, latencies, lost)
            for n in range(args.residents)))
        elapsed = time.monotonic() - started
        rss_after, rss_peak = rss_kib(gateway.pid)
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        await server.stop()
        if fake is not None:
            await fake.stop()

    rasa_label = args.rasa_url or f"fake Rasa, ~{args.rasa_ms} ms per turn"
    print(f"gateway benchmark: {args.residents} residents × {args.turns} turns, "
          f"think time ~{args.think}s, {rasa_label}")
    if not latencies:
        print("no replies at all — is the gateway starting? stderr:")
        print(gateway.stderr.read().decode()[-2000:] if gateway.stderr else "")
        return
    print(f"  turns answered   {len(latencies)} / {args.residents * args.turns}"
          f"   (lost: {len(lost)})")
    print(f"  reply latency    p50 {percentile(latencies, 0.50) * 1000:7.1f} ms   "
          f"p95 {percentile(latencies, 0.95) * 1000:7.1f} ms   "
          f"max {max(latencies) * 1000:7.1f} ms   mean {statistics.mean(latencies) * 1000:.1f} ms")
    print(f"  throughput       {len(latencies) / elapsed:7.1f} turns/s over {elapsed:.1f} s")
    print(f"  gateway RSS      {rss_before / 1024:.1f} MiB after warm-up, "
          f"{rss_after / 1024:.1f} MiB after the run, peak {rss_peak / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", "-n", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10, help="messages per resident")
    parser.add_argument("--think", type=float, default=0.5,
                        help="mean pause between a resident's messages, seconds")
    parser.add_argument("--rasa-ms", type=float, default=80.0,
                        help="mean latency of the fake Rasa, milliseconds")
    parser.add_argument("--rasa-url", default=None, help="use a real Rasa server instead")
    parser.add_argument("--rasa-token", default="minsheng-local-rasa-token")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
