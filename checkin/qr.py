"""QR images of a booking's code (qrcode), PNG for phones and printouts, SVG for the web."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathImage


def _code(text: str) -> qrcode.QRCode:
    # Error correction M: survives a scratched printout or a cracked phone screen, and stays small
    # enough (version 6 for our 132 characters in alphanumeric mode) to scan at arm's length.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(text.upper(), optimize=0)
    code.make(fit=True)
    return code


def png(text: str) -> bytes:
    buffer = io.BytesIO()
    _code(text).make_image().save(buffer)
    return buffer.getvalue()


def svg(text: str) -> bytes:
    buffer = io.BytesIO()
    _code(text).make_image(image_factory=SvgPathImage).save(buffer)
    return buffer.getvalue()
