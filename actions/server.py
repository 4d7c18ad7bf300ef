"""The action server: rasa_sdk's app on 127.0.0.1, answering only the caller with the token.

``python -m actions.server [--host H] [--port P]``. Rasa sends the shared token as
``Authorization: Bearer …`` (``action_endpoint.headers`` in endpoints.yml). Without it
anyone who can reach the port could post a tracker with any sender id and open, read,
withdraw or rate other residents' cases. /health stays open for the supervisor's probe.
"""
from __future__ import annotations

import argparse
import hmac
import logging

from rasa_sdk import endpoint
from sanic import Sanic, response

from actions import common
from minsheng.privacy import install_log_redaction

log = logging.getLogger(__name__)
OPEN_PATHS = ("/health",)


def create_app(token: str) -> Sanic:
    """rasa_sdk's Sanic app for our actions, refusing requests without ``token``."""
    app = endpoint.create_app("actions", cors_origins=[])  # no browser ever calls it
    expected = f"Bearer {token}".encode()

    @app.middleware("request")
    async def require_token(request):
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return None
        log.warning("refused %s %s from %s: no valid token", request.method, request.path,
                    request.ip)
        return response.json({"error": "unauthorized"}, status=401)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="民生说事 action server / 自定义动作服务")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=5055)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()
    app = create_app(common.settings().action_token)
    app.run(args.host, args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
