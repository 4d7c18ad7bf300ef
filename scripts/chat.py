"""Chat with the bot in a terminal through Rasa's REST channel (no Telegram needed).

Type a message and press Enter; when the bot offers buttons, type the button's number.
Typed text that starts with "/" is sent as ordinary text, never as a forced intent.
"""
from __future__ import annotations

import argparse
import sys
import uuid

import httpx

from bot.core.rasa import neutralise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:5005/webhooks/rest/webhook")
    parser.add_argument("--sender", default=f"web:terminal-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args()
    print("民生说事 终端聊天（Ctrl-D 退出）。例如：幸福里小区3号楼楼道有人飞线充电")
    buttons: list[dict] = []
    with httpx.Client(timeout=60) as client:
        for line in sys.stdin:
            text = line.strip()
            if not text:
                print("（请先输入内容）")
                continue
            if text.isdigit() and buttons and 1 <= int(text) <= len(buttons):
                message = buttons[int(text) - 1]["payload"]
            else:
                message = neutralise(text)
            try:
                reply = client.post(args.url, json={"sender": args.sender, "message": message})
                reply.raise_for_status()
            except httpx.HTTPError as exc:
                print(f"（暂时连不上机器人：{exc}；请稍后再试）")
                continue
            buttons = []
            for item in reply.json():
                if item.get("text"):
                    print("机器人：" + item["text"])
                for button in item.get("buttons") or []:
                    buttons.append(button)
                    print(f"  [{len(buttons)}] {button['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
