"""How a promoted model reaches every Rasa replica, and what each replica serves.

The registry's current model (nlu/registry.py) is the one truth. Two ways carry it to Rasa:

* **Pull** (several replicas; Kubernetes): a replica whose endpoints file has a ``models:``
  section (endpoints.scale-out.yml) fetches the current model from the web app
  (``GET /api/nlu/model/current``, web/model_server.py) when it starts and then every
  ``wait_time_between_pulls`` seconds. A replica started or restarted later therefore comes
  up on the current model, whatever its ``-m`` says (Rasa ignores ``-m`` when a model server
  is configured), and a promote reaches every replica — and every Sanic worker of each —
  within that interval, without the web app having to know them. This is Rasa's own
  mechanism and what its Helm chart configures.
* **Push** (``publish_model``): after a promote or rollback, each replica the settings list
  (``MINSHENG_RASA_REPLICA_URLS``, default just ``MINSHENG_RASA_URL``) gets ``PUT /model``,
  one after another, so that at most one of them loads at a time; a replica that already
  serves the model is skipped. A replica with a model server treats the PUT as "pull now"
  (Rasa loads from the configured model server in preference to the file named in the
  request), so its fingerprint stays the server's ETag; one without loads the file.

Either way the replica keeps answering while it loads (nlu/model_loading.py: the load runs
in a thread; Rasa itself would stop its event loop for the whole load).

The embedded default (``make run``, endpoints.yml) has no ``models:`` section on purpose:
Rasa there starts before the web app, and with a model server configured it would start
with no model at all until its first successful pull; ``-m`` gives it the current model at
once and the push keeps it current.

After a push, GET /status of each listed replica says which model it serves (the archive
name: Rasa reports a pulled model under the ``filename`` the model server sent).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

# Loading a model blocks the replica's event loop for seconds (longer under load): the PUT
# returns when it is done.
LOAD_TIMEOUT = 300.0
STATUS_TIMEOUT = 3.0


@dataclass(frozen=True)
class ReplicaStatus:
    url: str
    model_file: str | None = None
    model_id: str | None = None
    problem: str | None = None  # why nothing could be read (unreachable, still loading, …)

    def describe(self) -> str:
        if self.model_file:
            return f"{self.url} 正在使用 {Path(self.model_file).name}"
        return f"{self.url} {self.problem or '没有加载模型'}"


def replica_status(url: str, token: str, timeout: float = STATUS_TIMEOUT) -> ReplicaStatus:
    """What one Rasa replica serves now (its GET /status)."""
    try:
        response = httpx.get(url.rstrip("/") + "/status", params={"token": token},
                             timeout=timeout)
    except httpx.TimeoutException:
        return ReplicaStatus(url, problem="没有及时回答（可能正在加载模型）")
    except httpx.HTTPError as error:
        return ReplicaStatus(url, problem=f"连不上（{error.__class__.__name__}）")
    if response.status_code == 409:  # Rasa: no model loaded (yet)
        return ReplicaStatus(url, problem="没有加载模型")
    if response.status_code != 200:
        return ReplicaStatus(url, problem=f"状态查询失败：HTTP {response.status_code}")
    body = response.json()
    return ReplicaStatus(url, model_file=body.get("model_file"), model_id=body.get("model_id"))


def replicas_status(urls: Sequence[str], token: str) -> list[ReplicaStatus]:
    return [replica_status(url, token) for url in urls]


def push_model(rasa_url: str, token: str, model_path: Path,
               timeout: float = LOAD_TIMEOUT) -> str | None:
    """PUT /model on one replica; None when it loaded, else why not (for the operator)."""
    try:
        response = httpx.put(
            rasa_url.rstrip("/") + "/model",
            params={"token": token},
            json={"model_file": str(Path(model_path).resolve())},
            timeout=timeout,
        )
    except httpx.HTTPError as error:
        return f"{rasa_url} 连不上（{error.__class__.__name__}），它下次启动时加载当前模型"
    if response.status_code == 204:
        return None
    return f"{rasa_url} 拒绝加载：HTTP {response.status_code} {response.text[:200]}"


def publish_model(rasa_urls: str | Sequence[str], token: str, model_path: Path) -> str:
    """Push the current model to each replica in turn that does not serve it yet, then say
    what each one serves."""
    urls = [rasa_urls] if isinstance(rasa_urls, str) else list(rasa_urls)
    wanted = Path(model_path).name
    # A replica that pulls may have it already: a PUT would make it download and load the
    # same model again (Rasa's PUT builds a new agent, whose fingerprint matches nothing).
    todo = [u for u in urls if Path(replica_status(u, token).model_file or "").name != wanted]
    problems = [p for p in (push_model(url, token, model_path) for url in todo) if p]
    states = replicas_status(urls, token)
    behind = [s for s in states if s.model_file is None or Path(s.model_file).name != wanted]
    lines = problems + [s.describe() for s in states]
    if behind:
        lines.append(f"{len(behind)} 个副本还没有换上 {wanted}：配置了模型服务器的副本会在"
                     "下一次拉取时换上，其余的在下次启动时加载")
    return "；".join(lines)
