# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""The resident web chat (/chat): the same Rasa conversation as Telegram, via the REST channel.

Residents can never force an intent: typed text starting with "/" is neutralised, and a
payload is only accepted if it was offered to this very session by the bot's last reply.
"""
from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from pydantic import BaseModel

from bot.core.rasa import RasaClient, RasaUnavailable, neutralise
from web.deps import render
from web.uploads import MAX_UPLOAD_BYTES, UploadError, save_image

router = APIRouter(prefix="/chat", include_in_schema=False)
MAX_TEXT = 1000
RASA_DOWN = "机器人暂时无法回复，请稍后再试（您的内容没有丢失，可以再发一次）。"


class ChatIn(BaseModel):
    text: str | None = None
    payload: str | None = None


def _sender(request: Request) -> str:
    sid = request.session.get("chat_sid")
    if not sid:
        sid = request.session["chat_sid"] = secrets.token_urlsafe(16)
    return f"web:{sid}"


async def _exchange(request: Request, message: str, keep_offers: bool = False) -> dict:
    """Send, collect the replies, and remember which buttons this session may press next.

    New buttons replace the offer; a reply without buttons withdraws it, except after a
    photo, which may arrive in the middle of a question (e.g. at the confirm step).
    """
    try:
        settings = request.app.state.settings
        async with RasaClient(settings.rasa_url, settings.rasa_token) as rasa:
            replies = await rasa.send_message(_sender(request), message, {"channel": "web"})
    except RasaUnavailable:
        raise HTTPException(503, RASA_DOWN) from None
    out, offered = [], []
    for reply in replies:
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in reply.get("buttons") or [] if isinstance(b, dict) and b.get("payload")
        ]
        offered += [b["payload"] for b in buttons]
        out.append({"text": str(reply.get("text") or ""), "buttons": buttons,
                    "image": str(reply.get("image") or "")})
    if offered or not keep_offers:
        request.session["chat_offered"] = offered
    return {"messages": out}


@router.get("")
def chat_page(request: Request):
    _sender(request)
    return render(request, "chat.html", max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024))


@router.post("/send")
async def chat_send(request: Request, body: ChatIn):
    if body.payload is not None:
        if body.payload not in request.session.get("chat_offered", []):
            raise HTTPException(400, "这个按钮已失效，请直接输入文字或重新选择。")
        return await _exchange(request, body.payload)
    text = (body.text or "").strip()
    if not text:
        raise HTTPException(400, "请先输入内容")
    if len(text) > MAX_TEXT:
        raise HTTPException(400, f"内容太长了（最多 {MAX_TEXT} 字），请分几条发送")
    return await _exchange(request, neutralise(text))


@router.post("/photo")
async def chat_photo(request: Request, photo: UploadFile = File(...)):
    """A photo (随手拍): checked, stored under photos_dir, passed to Rasa as /send_photo."""
    data = await photo.read(MAX_UPLOAD_BYTES + 1)
    try:
        path = save_image(request.app.state.settings.photos_dir, data, "web")
    except UploadError as exc:
        raise HTTPException(400, str(exc)) from None
    message = "/send_photo" + json.dumps({"photo": str(path)}, ensure_ascii=False)
    return await _exchange(request, message, keep_offers=True)
