"""``rasa run`` with a model swap that does not stop the replica: ``python -m nlu.rasa_run``
takes the same arguments as ``rasa run``.

``install()`` replaces Rasa's model loading before it starts (nlu/model_loading.py: a new
model is loaded in a thread while the old one keeps answering). Nothing inside the
virtualenv is edited.
"""
from __future__ import annotations

import sys


def install() -> None:
    from nlu import model_loading

    model_loading.install()


def main(argv: list[str] | None = None) -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", "run", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
