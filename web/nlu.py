# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""NLU page (admin): review queue, relabel, background retraining with progress,
side-by-side scores of the current and the candidate model, promote and roll back, and
what each Rasa replica serves (a promote pushes to each in turn: nlu/serving.py).

Same code as ``minsheng nlu review / learn / rollback``: ``minsheng.nlu_log``,
``nlu.learning`` and ``nlu.registry``.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from minsheng import nlu_log
from minsheng.clock import format_local
from minsheng.db import UnitOfWork
from minsheng.users import UserView
from nlu import registry
from nlu.decision import LABELS
from nlu.serving import publish_model, replicas_status
from web.deps import admin_user, render, uow
from web.nlu_job import start_training

router = APIRouter(prefix="/nlu", include_in_schema=False)
LABEL_NAMES = {"out_of_scope": "非报事（闲聊等）"}
QUEUE_LIMIT = 200
SET_NAMES = {"own_messages": "本项目评测集", "real_messages_tipdm2020": "真实群众留言集"}
STATUS_NAMES = {"promoted": "已启用", "rejected": "未启用", "rolled_back": "已回滚",
                "trained": "已训练"}


def local_time(stamp: str | None, tz: str) -> str:
    """A registry time (ISO, UTC) as local text through the one formatter."""
    try:
        return format_local(datetime.fromisoformat(stamp), tz, "full", empty="") if stamp else ""
    except ValueError:
        return stamp or ""


def quality(reg: registry.Registry) -> list[dict]:
    """The current model's scores per evaluation set, as its registry entry has them."""
    entry = next((h for h in reg.history if h["model"] == reg.current), None)
    scores = (entry or {}).get("scores") or {}
    return [{"name": SET_NAMES.get(name, name), "macro_f1": row.get("macro_f1"),
             "accuracy": row.get("accuracy"), "n": row.get("n")}
            for name, row in sorted(scores.items())]


def _back(message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"/nlu?{kind}={quote(message)}", status_code=303)


def _comparison(reg: registry.Registry) -> tuple[dict | None, dict | None, list[str]]:
    """(baseline, newest trained model, evaluation sets) for the side-by-side table.

    The newest model is compared with what was serving when it was trained: the current
    model, or — once the newest has been promoted — the one before it.
    """
    scored = [h for h in reg.history if h.get("scores")]
    if not scored:
        return None, None, []
    newest = scored[-1]
    base_name = reg.previous if newest["model"] == reg.current else reg.current
    baseline = next((h for h in reg.history if h["model"] == base_name), None)
    sets = sorted(set(newest["scores"]) | set((baseline or {}).get("scores", {})))
    return baseline, newest, sets


@router.get("")
def page(request: Request, _user: UserView = Depends(admin_user), unit: UnitOfWork = Depends(uow)):
    settings = request.app.state.settings
    rows = nlu_log.export_review(unit, settings.nlu_confidence_threshold, mark_exported=False)
    reg = registry.load_registry(settings.models_dir)
    baseline, newest, sets = _comparison(reg)
    job = request.app.state.training
    flashes = [{"kind": k, "text": request.query_params[k]} for k in ("ok", "error")
               if request.query_params.get(k)]
    return render(request, "nlu.html", rows=rows[:QUEUE_LIMIT], total=len(rows), reg=reg,
                  baseline=baseline, newest=newest, sets=sets, job=job,
                  labels=LABELS, label_names=LABEL_NAMES, flashes=flashes,
                  threshold=settings.nlu_confidence_threshold,
                  history=list(reversed(reg.history))[:20], quality=quality(reg),
                  set_names=SET_NAMES, status_names=STATUS_NAMES,
                  replicas=replicas_status(settings.rasa_replicas, settings.rasa_token),
                  when=lambda stamp: local_time(stamp, settings.timezone))


@router.post("/relabel")
def relabel(message_id: int = Form(...), label: str = Form(...),
            user: UserView = Depends(admin_user), unit: UnitOfWork = Depends(uow)):
    if label not in LABELS:
        return _back("标注无效", "error")
    by = f"staff:{user.staff_id}" if user.staff_id else f"web:{user.username}"
    if nlu_log.record_correction(unit, label, by, message_id=message_id) == 0:
        return _back("找不到这条消息", "error")
    unit.commit()
    return _back("已改标注")


@router.post("/train")
def train(request: Request, _user: UserView = Depends(admin_user)):
    state = request.app.state
    if state.training is not None and state.training.running:
        return _back("已有训练在进行中", "error")
    start_training(state, state.settings.nlu_confidence_threshold)
    return _back("已开始训练候选模型")


@router.get("/job")
def job_status(request: Request, _user: UserView = Depends(admin_user)):
    job = request.app.state.training
    return {"stage": "idle", "running": False} if job is None else job.to_json()


def _guard_idle(request: Request) -> None:
    job = request.app.state.training
    if job is not None and job.running:
        raise HTTPException(409, "训练进行中，请等训练结束再操作")


@router.post("/promote")
def promote(request: Request, model: str = Form(...), _user: UserView = Depends(admin_user)):
    _guard_idle(request)
    settings = request.app.state.settings
    models_dir = Path(settings.models_dir)
    known = {h["model"] for h in registry.load_registry(models_dir).history}
    if model not in known or not (models_dir / model).is_file():
        return _back("找不到这个模型", "error")
    registry.promote(models_dir, model)
    note = publish_model(settings.rasa_replicas, settings.rasa_token, models_dir / model)
    return _back(f"已启用 {model}。{note}")


@router.post("/rollback")
def rollback(request: Request, _user: UserView = Depends(admin_user)):
    _guard_idle(request)
    settings = request.app.state.settings
    try:
        reg = registry.rollback(settings.models_dir)
    except LookupError:
        return _back("没有可以回滚到的上一个模型", "error")
    note = publish_model(settings.rasa_replicas, settings.rasa_token,
                         Path(settings.models_dir) / reg.current)
    return _back(f"已回滚，当前模型 {reg.current}。{note}")
