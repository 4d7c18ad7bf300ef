"""Update factories: Bot API JSON as Telegram would deliver it to a private chat."""
from __future__ import annotations

import itertools
import time
from typing import Any

_message_ids = itertools.count(500001)
_callback_ids = itertools.count(900001)


def user(user_id: int, first_name: str = "居民") -> dict:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}


def _message(user_id: int, **content: Any) -> dict:
    return {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "居民"},
        "from": user(user_id),
        **content,
    }


def message_update(user_id: int, text: str, **extra: Any) -> dict:
    """A text message; a leading ``/word`` is marked as a bot command as Telegram does."""
    content: dict[str, Any] = {"text": text, **extra}
    if text.startswith("/"):
        command = text.split()[0]
        length = len(command)
        for stop in "{[(\"'":
            if stop in command:
                length = min(length, command.index(stop))
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"message": _message(user_id, **content)}


def reply_update(user_id: int, text: str, replied_to: dict) -> dict:
    """A text message replying to ``replied_to`` (a Message dict the bot sent)."""
    return {"message": _message(user_id, text=text, reply_to_message=replied_to)}


def photo_update(user_id: int, file_id: str, size: int, caption: str | None = None) -> dict:
    sizes = [
        {"file_id": f"{file_id}-small", "file_unique_id": f"{file_id}-s", "width": 90,
         "height": 90, "file_size": 1000},
        {"file_id": file_id, "file_unique_id": f"uniq-{file_id}", "width": 1280,
         "height": 960, "file_size": size},
    ]
    extra = {"caption": caption} if caption else {}
    return {"message": _message(user_id, photo=sizes, **extra)}


def location_update(user_id: int, lat: float, lon: float) -> dict:
    return {"message": _message(user_id, location={"latitude": lat, "longitude": lon})}


def contact_update(user_id: int, phone: str, contact_user_id: int | None = None) -> dict:
    contact = {"phone_number": phone, "first_name": "居民",
               "user_id": contact_user_id if contact_user_id is not None else user_id}
    return {"message": _message(user_id, contact=contact)}


def sticker_update(user_id: int) -> dict:
    sticker = {"file_id": "sticker-1", "file_unique_id": "sticker-u1", "type": "regular",
               "width": 512, "height": 512, "is_animated": False, "is_video": False,
               "emoji": "😀"}
    return {"message": _message(user_id, sticker=sticker)}


def callback_update(user_id: int, data: str, message: dict | None = None) -> dict:
    """A button press on ``message`` (a Message dict the bot sent) with ``data``."""
    query: dict[str, Any] = {
        "id": str(next(_callback_ids)),
        "from": user(user_id),
        "chat_instance": f"ci-{user_id}",
        "data": data,
    }
    query["message"] = message or {
        "message_id": next(_message_ids), "date": int(time.time()),
        "chat": {"id": user_id, "type": "private"},
        "from": {"id": 1, "is_bot": True, "first_name": "bot"}, "text": "…",
    }
    return {"callback_query": query}


def sent_message(call_result: dict) -> dict:
    """The Message the bot sent (a recorded call's result), to press its buttons or reply."""
    return dict(call_result)


def edited_update(user_id: int, text: str) -> dict:
    """The resident edited an earlier text message."""
    message = _message(user_id, text=text)
    message["edit_date"] = message["date"] + 5
    return {"edited_message": message}


def media_update(user_id: int, kind: str) -> dict:
    """A voice note, video, video note, audio or a non-image document."""
    media = {
        "voice": {"file_id": "v-1", "file_unique_id": "v-u1", "duration": 3},
        "video": {"file_id": "vid-1", "file_unique_id": "vid-u1", "width": 640,
                  "height": 480, "duration": 5},
        "video_note": {"file_id": "vn-1", "file_unique_id": "vn-u1", "length": 240,
                       "duration": 5},
        "audio": {"file_id": "a-1", "file_unique_id": "a-u1", "duration": 60},
        "document": {"file_id": "d-1", "file_unique_id": "d-u1", "file_name": "投诉.pdf",
                     "mime_type": "application/pdf"},
    }[kind]
    return {"message": _message(user_id, **{kind: media})}
