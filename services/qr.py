"""QR codes as PNG (qrcode + pypng, no image library needed)."""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.image.pure import PyPNGImage


def png_bytes(data: str, box_size: int = 8) -> bytes:
    image = qrcode.make(data, image_factory=PyPNGImage, box_size=box_size, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def data_url(data: str, box_size: int = 8) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(data, box_size)).decode()
