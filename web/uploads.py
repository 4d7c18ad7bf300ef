"""Photo uploads (随手拍) on the web: checked by minsheng.images, then stored."""
from __future__ import annotations

import uuid
from pathlib import Path

from minsheng.clock import utcnow
from minsheng.images import MAX_UPLOAD_BYTES, UploadError, check_image, resolve_photo

__all__ = ["MAX_UPLOAD_BYTES", "UploadError", "check_image", "resolve_photo", "save_image"]


def save_image(photos_dir: Path, data: bytes, origin: str) -> Path:
    """Store a checked image under ``photos_dir/<origin>/<yyyymm>/``; returns its path."""
    suffix = check_image(data)
    folder = Path(photos_dir) / origin / utcnow().strftime("%Y%m")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    return path
