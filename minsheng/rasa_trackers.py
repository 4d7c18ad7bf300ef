"""Rasa's tracker store, found as Rasa finds it, for showing or erasing a resident's
dialogue.

The tracker store is its own database, named by the endpoints file's ``tracker_store``
section. minsheng never imports Rasa, so this reads the file as Rasa does (``${VAR}`` in
plain scalars filled from the environment — here in that section only), builds the URL as
``SQLTrackerStore.get_db_url`` does, and reads or deletes with SQLAlchemy Core in Rasa's
``events`` table (one row per event, ``sender_id`` the conversation: ``telegram:123``, the
event itself as JSON in ``data``).
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    inspect,
    select,
)
from sqlalchemy.engine import URL, make_url

# Rasa's own SQL store, and ours built on it (nlu/tracker_store.py): both keep Rasa's tables
SQL_TYPES = {"sql", "nlu.tracker_store.cachedsqltrackerstore"}
# Rasa's pattern (rasa.shared.utils.io.replace_environment_variables)
ENV_VAR = re.compile(r"^(.*)\$\{(.*)\}(.*)$")

events = Table("events", MetaData(), Column("id", Integer, primary_key=True),
               Column("sender_id", String(255)), Column("type_name", String(255)),
               Column("timestamp", Float), Column("data", Text))
SPOKEN = {"user": "resident", "bot": "bot"}  # the events that are the dialogue, and who spoke


class NotErasable(Exception):
    """The tracker store named by the endpoints file cannot be erased from here."""


class _Env(str):
    """A plain scalar with ``${VAR}`` in it, filled only when used."""


class _EnvLoader(yaml.SafeLoader):
    """Rasa's loader marks the same scalars (on this subclass only: every other yaml user
    keeps its loader)."""


_EnvLoader.add_implicit_resolver("!env_var", ENV_VAR, None)
_EnvLoader.add_constructor("!env_var", lambda loader, node: _Env(loader.construct_scalar(node)))


def _expand(value):
    # as Rasa's env_var_constructor; but only in the tracker_store section: the rest of the
    # file (the action server's token…) needs variables the erasing shell may not have
    if not isinstance(value, _Env):
        return value
    expanded = os.path.expandvars(value)
    unset = [w for w in expanded.split() if w.startswith("$") and w in value]
    if unset:  # Rasa refuses to start with these
        raise NotErasable(f"环境变量未设置 / environment variables not set: {unset}")
    return str(expanded)


def tracker_store_url(endpoints: Path) -> URL:
    """The SQLAlchemy URL of the SQL tracker store in ``endpoints``; NotErasable says why
    there is none."""
    endpoints = Path(endpoints)
    if not endpoints.is_file():
        raise NotErasable(f"没有 endpoints 文件 / no endpoints file {endpoints.resolve()}")
    content = yaml.load(endpoints.read_text(encoding="utf-8"), Loader=_EnvLoader) or {}
    keys = {k: _expand(v) for k, v in (content.get("tracker_store") or {}).items()}
    kind = keys.get("store_type", keys.get("type"))
    if kind is None:
        raise NotErasable("tracker store 在内存中（未配置），Rasa 重启即清空 / "
                          "in-memory tracker store (none configured): gone at Rasa's restart")
    if str(kind).lower() not in SQL_TYPES:
        raise NotErasable(f"tracker store 不是 SQL（{kind}），请用其自身工具删除 / "
                          f"not an SQL tracker store ({kind})")
    dialect = keys.get("dialect", "sqlite")
    host = keys.get("url")
    port = keys.get("port")
    if host and "://" in str(host):
        return make_url(str(host))  # a whole URL in ``url``, as Rasa takes it
    if host:
        parsed = urlsplit(f"scheme://{host}")  # a port may come with the host
        host, port = parsed.hostname or host, parsed.port or port
    url = URL.create(dialect, username=keys.get("username"), password=keys.get("password"),
                     host=host, port=int(port) if port else None,
                     database=keys.get("db", "rasa.db"), query=keys.get("query") or {})
    if url.get_backend_name() == "sqlite" and not Path(url.database).is_file():
        # relative to the working directory, as for Rasa (started in the project's root)
        raise NotErasable(f"没有 tracker 数据库文件 / no tracker database file "
                          f"{Path(url.database).resolve()}")
    return url


def erase_senders(url: URL, senders: list[str]) -> int:
    """Delete the events of these conversations, committed at once; returns how many."""
    if not senders:
        return 0
    engine = create_engine(url, future=True)
    try:
        with engine.begin() as conn:
            if not inspect(conn).has_table("events"):
                return 0  # Rasa made no table yet: no conversation stored
            return conn.execute(delete(events).where(events.c.sender_id.in_(senders))).rowcount
    finally:
        engine.dispose()


def dialogue(url: URL, senders: list[str]) -> list[dict]:
    """What the resident and the bot said in these conversations, oldest first: ``at``
    (ISO time), ``conversation`` (the sender id), ``from`` (resident or bot), ``text``."""
    if not senders:
        return []
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("events"):
                return []
            rows = conn.execute(select(events.c.sender_id, events.c.type_name,
                                       events.c.timestamp, events.c.data)
                                .where(events.c.sender_id.in_(senders),
                                       events.c.type_name.in_(list(SPOKEN)))
                                .order_by(events.c.id)).all()
    finally:
        engine.dispose()
    said = []
    for row in rows:
        text = (json.loads(row.data or "{}") or {}).get("text")
        if text:  # a button's payload alone, or an image without words, says nothing here
            at = datetime.fromtimestamp(row.timestamp, timezone.utc).isoformat() \
                if row.timestamp else None
            said.append({"at": at, "conversation": row.sender_id,
                         "from": SPOKEN[row.type_name], "text": text})
    return said
