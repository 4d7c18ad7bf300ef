"""Telling a running Rasa server to switch models (its HTTP model API, no restart)."""
from __future__ import annotations

from pathlib import Path

import httpx


def load_model_on_server(rasa_url: str, token: str, model_path: Path, timeout: float = 120.0) -> str:
    """PUT /model with the model file; returns a one-line outcome for the operator."""
    url = rasa_url.rstrip("/") + "/model"
    try:
        response = httpx.put(
            url,
            params={"token": token},
            json={"model_file": str(Path(model_path).resolve())},
            timeout=timeout,
        )
    except httpx.HTTPError as error:
        return f"no Rasa server reachable at {rasa_url} ({error.__class__.__name__}); it loads the model at its next start"
    if response.status_code == 204:
        return f"Rasa server at {rasa_url} now serves {Path(model_path).name}"
    return f"Rasa server at {rasa_url} refused the model: HTTP {response.status_code} {response.text[:200]}"
