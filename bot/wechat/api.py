"""WeChat's HTTP API, the calls this channel makes (httpx, async).

The access token comes from ``/cgi-bin/token`` and is cached until shortly before it
expires; a call refused for a stale token (40001, 40014, 42001) fetches a new one and is
made once more. Every other ``errcode`` becomes ``WeChatError`` with that code, so that
callers can tell a closed customer-service window (45015) from a real failure.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)

WINDOW_CLOSED = 45015  # the resident has not written within 48 hours
NOT_FOLLOWING = 43004  # the resident unfollowed the account
STALE_TOKEN = {40001, 40014, 42001}
TOKEN_MARGIN = 300  # refresh this many seconds before WeChat's expiry


_MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


class WeChatError(Exception):
    """WeChat refused a call (``errcode`` ≠ 0) or could not be reached (``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}" if errcode is not None else errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatApi:
    def __init__(self, base_url: str, app_id: str, app_secret: str,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=5.0))
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    # -- the calls -----------------------------------------------------------------------
    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (only within 48 h of the resident's last message)."""
        await self._call("POST", "/cgi-bin/message/custom/send",
                         {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_image(self, openid: str, media_id: str) -> None:
        """A customer-service image message (a temporary media id, see ``upload_image``)."""
        await self._call("POST", "/cgi-bin/message/custom/send",
                         {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})

    async def upload_image(self, content: bytes, filename: str) -> str:
        """A temporary image (kept by WeChat for 3 days); its media id."""
        response = await self._authorised(
            "POST", "/cgi-bin/media/upload", params={"type": "image"},
            files={"media": (filename, content, _MIME.get(filename.rsplit(".", 1)[-1],
                                                          "application/octet-stream"))})
        data = _json(response)
        _raise_for_errcode(data)
        if not data.get("media_id"):
            raise WeChatError(None, "no media_id in WeChat's answer")
        return str(data["media_id"])

    async def send_template(self, openid: str, template_id: str, data: dict) -> None:
        """A template message (模板消息): allowed outside the customer-service window."""
        await self._call("POST", "/cgi-bin/message/template/send",
                         {"touser": openid, "template_id": template_id, "data": data})

    async def download_media(self, media_id: str, max_bytes: int) -> bytes:
        """A temporary media file (a resident's photo) by its media id."""
        response = await self._authorised("GET", "/cgi-bin/media/get", params={"media_id": media_id})
        if response.content[:1] == b"{":  # an error comes as JSON instead of the file
            _raise_for_errcode(_json(response))
            raise WeChatError(None, "no media in WeChat's answer")
        if len(response.content) > max_bytes:
            raise WeChatError(None, f"media larger than {max_bytes} bytes")
        return response.content

    # -- the token -------------------------------------------------------------------------
    async def access_token(self, refresh: bool = False) -> str:
        async with self._token_lock:
            if refresh or self._token is None or time.monotonic() >= self._expires_at:
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def _fetch_token(self) -> None:
        params = {"grant_type": "client_credential", "appid": self._app_id,
                  "secret": self._app_secret}
        data = _json(await self._request("GET", "/cgi-bin/token", params=params))
        _raise_for_errcode(data)
        if not data.get("access_token"):
            raise WeChatError(None, "no access_token in WeChat's answer")
        self._token = str(data["access_token"])
        lifetime = int(data.get("expires_in") or 7200)
        self._expires_at = time.monotonic() + max(lifetime - TOKEN_MARGIN, lifetime // 2)
        log.info("WeChat access token fetched (valid %ss)", lifetime)

    # -- plumbing --------------------------------------------------------------------------
    async def _call(self, method: str, path: str, body: dict) -> dict:
        data = _json(await self._authorised(method, path, json=body))
        _raise_for_errcode(data)
        return data

    async def _authorised(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The request with the cached token; once more with a new one if it was stale."""
        params = dict(kwargs.pop("params", None) or {})
        for refresh in (False, True):
            params["access_token"] = await self.access_token(refresh=refresh)
            response = await self._request(method, path, params=params, **kwargs)
            if refresh or _errcode_of(response) not in STALE_TOKEN:
                return response
            log.info("WeChat access token refused as stale; fetching a new one")
        raise AssertionError("unreachable")

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as error:
            raise WeChatError(None, f"{type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise WeChatError(None, f"HTTP {response.status_code}: {response.text[:200]}")
        return response


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise WeChatError(None, f"not JSON: {response.text[:200]}") from None
    return data if isinstance(data, dict) else {}


def _errcode_of(response: httpx.Response) -> int | None:
    if "json" not in response.headers.get("content-type", "") and not response.content.startswith(
            b"{"):
        return None
    try:
        return int(response.json().get("errcode") or 0)
    except (ValueError, AttributeError):
        return None


def _raise_for_errcode(data: dict) -> None:
    code = int(data.get("errcode") or 0)
    if code:
        raise WeChatError(code, str(data.get("errmsg") or ""))
