"""Secrets made on first run and kept in ``var/secrets/`` (git-ignored), never committed.

A secret given in the environment wins. Otherwise every process on this host reads the same
file, which the first process that needs it writes: a random value in a temporary file,
linked into place so that a second process starting at the same moment reads the winner's
value and never an empty or half-written file. Hosts of a scale-out deployment share no
disk, so there every secret must be set in the environment.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

# The settings that are secrets, each filled from var/secrets/<name> when not set.
GENERATED = ("web_secret_key", "rasa_token", "action_token")


def read_or_create(directory: Path, name: str) -> str:
    """The secret ``name`` kept in ``directory``; created (mode 0600) when absent."""
    path = directory / name
    if path.exists():
        return _read(path)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = directory / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32))
    try:
        os.link(scratch, path)  # atomic, and fails when another process was first
    except FileExistsError:
        pass
    finally:
        scratch.unlink()
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise RuntimeError(f"{path} is empty; delete it to have a new secret made")
    return value
