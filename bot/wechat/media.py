"""Our images as WeChat messages: a Rasa response's ``image`` (a URL, or the path of a photo
under ``photos_dir``) is read, checked, uploaded as temporary media
(``/cgi-bin/media/upload?type=image``) and sent by its media id.

A path outside ``photos_dir`` is never read (as on Telegram). WeChat keeps temporary media
for three days, so the media id of an image already uploaded is reused for a while
instead of uploading the same bytes again (a rating prompt's photos, a retried row).
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from pathlib import Path

import httpx

from bot.wechat.api import WeChatApi
from minsheng.images import MAX_UPLOAD_BYTES, UploadError, check_image

WECHAT_SUFFIXES = {".jpg", ".png", ".gif"}  # WeChat's image messages take no WebP
MEDIA_REUSE_SECONDS = 2 * 24 * 3600  # well inside WeChat's three days
FETCH_TIMEOUT = 10.0


class ImageRefused(ValueError):
    """This image cannot be sent (not ours, not an image, too large): never retried."""


class OutgoingImages:
    """Media ids for the images we send, uploaded once per content."""

    def __init__(self, api: WeChatApi, photos_dir: Path, capacity: int = 1000) -> None:
        self._api = api
        self._photos_dir = photos_dir.resolve()
        self._capacity = capacity
        self._uploaded: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def media_id(self, source: str) -> str:
        """The media id of ``source``; ``ImageRefused``, or ``WeChatError`` from WeChat."""
        content = await self._read(source)
        try:
            suffix = check_image(content)
        except UploadError as error:
            raise ImageRefused(f"{source}: {error}") from None
        if suffix not in WECHAT_SUFFIXES:
            raise ImageRefused(f"{source}: WeChat takes no {suffix} images")
        digest = hashlib.sha256(content).hexdigest()
        cached = self._uploaded.get(digest)
        if cached is not None and time.monotonic() - cached[0] < MEDIA_REUSE_SECONDS:
            return cached[1]
        media_id = await self._api.upload_image(content, f"{digest[:16]}{suffix}")
        self._uploaded[digest] = (time.monotonic(), media_id)
        while len(self._uploaded) > self._capacity:
            self._uploaded.popitem(last=False)
        return media_id

    async def _read(self, source: str) -> bytes:
        if source.startswith(("http://", "https://")):
            return await _fetch(source)
        path = Path(source).resolve()
        if self._photos_dir not in path.parents or not path.is_file():
            raise ImageRefused(f"{source}: not a file under photos_dir")
        return await asyncio.to_thread(path.read_bytes)


async def _fetch(url: str) -> bytes:
    """The image at ``url``, at most ``MAX_UPLOAD_BYTES`` of it read."""
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as http, \
                http.stream("GET", url) as response:
            if response.status_code >= 400:
                raise ImageRefused(f"{url}: HTTP {response.status_code}")
            content = b""
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_UPLOAD_BYTES:
                    raise ImageRefused(f"{url}: larger than {MAX_UPLOAD_BYTES} bytes")
            return content
    except httpx.HTTPError as error:
        raise ImageRefused(f"{url}: {type(error).__name__}") from None
