"""Photo uploads (随手拍): check the bytes are a real image of a modest size, then store them."""
from __future__ import annotations

import io
import uuid
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from minsheng.clock import utcnow

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}


class UploadError(ValueError):
    """The upload was refused; the message is shown to the user (Chinese)."""


def check_image(data: bytes) -> str:
    """The file suffix for ``data`` if it is an accepted image, else UploadError."""
    if not data:
        raise UploadError("没有收到图片")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"图片太大（上限 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB）")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadError("只能上传 JPEG、PNG、GIF 或 WebP 图片") from None
    if kind not in FORMATS:
        raise UploadError("只能上传 JPEG、PNG、GIF 或 WebP 图片")
    return FORMATS[kind]


def save_image(photos_dir: Path, data: bytes, origin: str) -> Path:
    """Store a checked image under ``photos_dir/<origin>/<yyyymm>/``; returns its path."""
    suffix = check_image(data)
    folder = Path(photos_dir) / origin / utcnow().strftime("%Y%m")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    return path


def resolve_photo(photos_dir: Path, stored: str) -> Path | None:
    """The file for a stored photo path, only if it lies inside ``photos_dir``."""
    root = Path(photos_dir).resolve()
    candidate = Path(stored)
    candidate = (candidate if candidate.is_absolute() else Path.cwd() / candidate).resolve()
    if root not in candidate.parents or not candidate.is_file():
        return None
    return candidate
