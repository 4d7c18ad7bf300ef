# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Staff-entered cases for the offline intake channels (热线、意见箱、服务站、巡查、走访).

The classifier suggests the category (Rasa ``/model/parse``); staff confirm or change it.
When Rasa is down the form still works — staff pick the category themselves. A staff
change of the suggestion is logged for NLU review, like a resident's correction.

The place is read from the description the way the chat reads it (``nlu.entities``, the
chat's entity extractor, then ``minsheng.places.parse_place``) when staff leave the place
fields empty; a case needs a place or an explicit 地址不详.
"""
from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from bot.core.rasa import RasaClient
from minsheng import nlu_log
from minsheng.db import UnitOfWork
from minsheng.enums import Category, Channel
from minsheng.errors import DomainError
from minsheng.models import Case
from minsheng.places import Place, parse_place
from minsheng.services import cases as case_service
from minsheng.services.cases import NewCase, ResidentRef
from minsheng.users import UserView
from nlu.decision import category_candidates, decide_category
from nlu.entities import find_place_parts
from web import queries
from web.deps import Scope, current_user, render, uow, user_scope

router = APIRouter(prefix="/cases", include_in_schema=False)
OFFLINE_CHANNELS = [Channel.hotline, Channel.mailbox, Channel.service_station, Channel.patrol,
                    Channel.visit]
FIELDS = ("channel", "description", "category", "xiaoqu", "building", "unit", "room",
          "address", "phone", "name", "urgent", "anonymous", "nonce", "predicted",
          "confidence", "no_address")
PLACE_PARTS = ("xiaoqu", "building", "unit", "room")
NO_PLACE = "请填写地点（小区、楼栋等），或勾选“地址不详”。"


def place_from_text(text: str) -> dict[str, str]:
    """Place parts named in a description, as the chat finds them: the NLU entity
    extractor first (its first value of each part), the place parser when it finds none."""
    parts: dict[str, str] = {}
    for found in find_place_parts(text):
        parts.setdefault(found.entity, found.value)
    if not parts:
        place = parse_place(text)
        parts = {k: getattr(place, k) for k in PLACE_PARTS if getattr(place, k)}
    return parts


def _fill_place(values: dict) -> bool:
    """Fill empty place fields from the description; True when something was filled."""
    if any(values[k] for k in PLACE_PARTS) or values["address"]:
        return False
    found = place_from_text(values["description"])
    values.update({k: v for k, v in found.items() if k in PLACE_PARTS})
    return bool(found)


def _form(request: Request, user: UserView, values: dict, suggestion=None, error=None,
          status_code: int = 200, place_read: bool = False):
    return render(request, "intake.html", status_code=status_code, values=values,
                  suggestion=suggestion, error=error, channels=OFFLINE_CHANNELS,
                  categories=list(Category), place_read=place_read)


@router.get("/new")
def new_case_form(request: Request, user: UserView = Depends(current_user)):
    return _form(request, user, {"nonce": secrets.token_urlsafe(12), "channel": "hotline"})


async def _suggest(request: Request, text: str) -> dict:
    """{'available': bool, 'category', 'confidence', 'candidates': [(code, conf)…]}."""
    settings = request.app.state.settings
    async with RasaClient(settings.rasa_url, settings.rasa_token) as rasa:
        result = await rasa.parse(text)
    if result is None:
        return {"available": False}
    ranking = result.get("intent_ranking") or []
    decision = decide_category(ranking, settings.nlu_confidence_threshold)
    top = category_candidates(ranking)[:3]
    return {"available": True, "category": decision.category,
            "best": top[0].category if top else None,
            "confidence": top[0].confidence if top else 0.0,
            "candidates": [(c.category, c.confidence) for c in top]}


@router.post("/new")
async def new_case(request: Request, step: str = Form("submit"),
                   user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
                   unit: UnitOfWork = Depends(uow)):
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in FIELDS}
    values["description"] = values["description"][:2000]
    if not values["description"]:
        return _form(request, user, values, error="请填写问题描述", status_code=400)
    place_read = _fill_place(values)
    if step == "suggest":
        suggestion = await _suggest(request, values["description"])
        if suggestion["available"] and suggestion["best"]:
            values["category"] = suggestion["category"] or suggestion["best"]
            values["predicted"] = suggestion["best"]
            values["confidence"] = f"{suggestion['confidence']:.3f}"
        return _form(request, user, values, suggestion=suggestion, place_read=place_read)
    try:
        channel = Channel(values["channel"])
        category = Category(values["category"])
    except ValueError:
        return _form(request, user, values, error="请选择渠道和问题类别", status_code=400)
    if channel not in OFFLINE_CHANNELS:
        return _form(request, user, values, error="渠道无效", status_code=400)
    parts = {k: values[k][:50] or None for k in PLACE_PARTS}
    if not any(parts.values()) and not values["address"] and not values["no_address"]:
        return _form(request, user, values, error=NO_PLACE, status_code=400)
    phone = "".join(ch for ch in values["phone"] if ch.isdigit())[:20] or None
    new = NewCase(
        channel=channel,
        idempotency_key=f"web-intake:{values['nonce'] or secrets.token_urlsafe(12)}",
        description=values["description"],
        category=category,
        place=Place(**parts) if any(parts.values()) else None,
        address=values["address"][:300] or None,
        lat=None, lon=None,
        phone=phone,
        resident=ResidentRef(channel, phone, display_name=values["name"][:100] or None)
        if phone else None,
        urgent=values["urgent"] in ("1", "true", "on"),
        anonymous=values["anonymous"] in ("1", "true", "on"),  # refused outside 治安、纠纷
        photos=[],
    )
    try:
        result = case_service.open_case(unit, new, settings=request.app.state.settings)
        _log_suggestion(unit, user, values, category, result)
        unit.commit()
    except DomainError as error:
        return _form(request, user, values, error=str(error), status_code=400)
    case_no = result.merged_into or result.case_no
    message = quote(f"已受理 {case_no}" + ("（与已有工单合并）" if result.merged_into else ""))
    _exists, grid_id = queries.case_grid_id(unit.session, case_no)
    if not scope.allows(grid_id):  # routed to a grid this login does not see
        return RedirectResponse(f"/cases?ok={message}", status_code=303)
    return RedirectResponse(f"/cases/{case_no}?ok={message}", status_code=303)


def _log_suggestion(unit, user: UserView, values: dict, chosen: Category, result) -> None:
    """Keep the classifier's reading of the text; a staff change of it is a correction."""
    predicted = values.get("predicted")
    if predicted not in {c.value for c in Category}:
        return
    try:
        confidence = float(values.get("confidence") or 0)
    except ValueError:
        confidence = 0.0
    case_id = unit.session.execute(
        select(Case.id).where(Case.case_no == (result.merged_into or result.case_no))).scalar()
    message = nlu_log.record_prediction(unit, Channel(values["channel"]), f"web:{user.username}",
                                        values["description"], predicted, confidence, case_id)
    if chosen.value != predicted:
        nlu_log.record_correction(unit, chosen.value, f"staff:{user.staff_id or user.username}",
                                  message_id=message.id)
