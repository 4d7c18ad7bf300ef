"""Become one of the host's processes: ``python scripts/exec_process.py NAME``.

The systemd units (deploy/systemd) start every process through this, so that the command
lines exist once, in minsheng/processes.py, for `make run` and production alike.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from minsheng import processes
from minsheng.settings import load_settings
from nlu.registry import current_model_path


def main(name: str) -> None:
    settings = load_settings()
    model = current_model_path(settings.models_dir) if name == "rasa" else None
    if name == "rasa" and model is None:
        raise SystemExit("没有可用的模型：先运行 minsheng nlu train")
    found = {p.name: p for p in processes.programs(BIN, settings.rasa_token, model,
                                                   gateway=True)}
    if name not in found:
        raise SystemExit(f"unknown process {name!r}; one of {', '.join(found)}")
    os.chdir(ROOT)
    # Rasa reads the action token for endpoints.yml from the environment.
    os.environ["MINSHENG_ACTION_TOKEN"] = settings.action_token
    argv = found[name].argv
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
