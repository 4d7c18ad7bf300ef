"""GET /api/nlu/model/current: the registry's current model, for Rasa replicas that pull it.

Rasa 3.6's model-server protocol (rasa/core/agent.py, ``_pull_model_and_fingerprint``): the
replica sends ``If-None-Match: <the fingerprint it serves>``; 304, 204 and 404 all mean
"keep yours"; a 200 carries the archive, whose ``ETag`` becomes the replica's fingerprint
(sent back on the next pull) and whose ``filename`` header is the name its GET /status then
reports. Our ETag is the archive's name: archives are versioned by name
(minsheng-YYYYMMDD-HHMMSS), so a promote or rollback changes it and nothing else does.

The caller shows the action token (``Authorization: Bearer …``; endpoints.scale-out.yml
``models.headers``): Rasa already holds it for the action server, and no one without it
should download the model. Why pull at all, and when: nlu/serving.py.
"""
from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from nlu.registry import current_model_path
from web.deps import bearer_token

router = APIRouter(prefix="/api/nlu", include_in_schema=False)


def model_etag(path: Path) -> str:
    return f'"{path.name}"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison; Rasa echoes our ETag as it got it, quotes included."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or etag.strip('"') in tags or "*" in tags


@router.get("/model/current")
def current_model(request: Request):
    settings = request.app.state.settings
    given = (bearer_token(request) or "").encode()
    if not hmac.compare_digest(given, (settings.action_token or "").encode()) or not given:
        raise HTTPException(401, "需要 Rasa 的服务令牌", headers={"WWW-Authenticate": "Bearer"})
    path = current_model_path(settings.models_dir)
    if path is None:  # Rasa keeps what it has (and logs that no model was found)
        raise HTTPException(404, "还没有训练好的模型")
    etag = model_etag(path)
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return FileResponse(path, media_type="application/gzip",
                        headers={"ETag": etag, "filename": path.name})
