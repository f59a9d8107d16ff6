"""EXIF as JSON: every tag by its name, GPS in decimal degrees, the capture time in ms since the epoch."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from PIL import ExifTags, Image, TiffImagePlugin

_GPS_NAMES = ExifTags.GPSTAGS
_IFD_NAMES = {ExifTags.IFD.Exif: "Exif", ExifTags.IFD.GPSInfo: "GPS", ExifTags.IFD.Interop: "Interop"}
_MAX_TEXT = 4096
_MAX_BINARY = 256


def _json(value: Any) -> Any:
    """A tag's value as JSON: rationals as floats, tuples as lists, bytes as text or hex (bounded)."""
    if isinstance(value, TiffImagePlugin.IFDRational):
        if value.denominator == 0:
            return None
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bool | int | str):
        if isinstance(value, str):
            return value.replace("\x00", "").strip()[:_MAX_TEXT]
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        stripped = value.rstrip(b"\x00")
        try:
            text = stripped.decode("ascii")
            if text.isprintable():
                return text[:_MAX_TEXT]
        except UnicodeDecodeError:
            pass
        return value[:_MAX_BINARY].hex()
    if isinstance(value, tuple | list):
        return [_json(v) for v in value[:256]]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)[:_MAX_TEXT]


def parse_exif(blob: bytes | None) -> Image.Exif | None:
    if not blob:
        return None
    exif = Image.Exif()
    try:
        exif.load(blob)
    except (ValueError, SyntaxError, OSError, KeyError, TypeError, IndexError):
        return None
    return exif


def tags(exif: Image.Exif) -> dict[str, Any]:
    """IFD0 and the Exif IFD flat by tag name (as CL's clients read `Make`, `DateTime`); GPS nested."""
    out: dict[str, Any] = {}

    def put(tag: int, value: Any, names: dict[int, str]) -> None:
        if tag in _IFD_NAMES:
            return
        name = names.get(tag, f"Tag0x{tag:04X}")
        if name in ("MakerNote", "UserComment") and isinstance(value, bytes) and len(value) > _MAX_BINARY:
            return
        out[name] = _json(value)

    for tag, value in exif.items():
        put(tag, value, ExifTags.TAGS)
    for ifd, label in _IFD_NAMES.items():
        try:
            sub = exif.get_ifd(ifd)
        except (ValueError, KeyError, TypeError, OSError, SyntaxError):
            continue
        if not sub:
            continue
        if label == "GPS":
            out["GPS"] = {_GPS_NAMES.get(t, f"Tag0x{t:04X}"): _json(v) for t, v in sub.items()}
        else:
            for tag, value in sub.items():
                put(tag, value, ExifTags.TAGS)
    return out


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(x) for x in (d, m, s)):
        return None
    decimal = d + m / 60 + s / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    if str(ref).strip().upper() in ("S", "W"):
        decimal = -decimal
    return round(decimal, 7)


def gps(exif: Image.Exif) -> dict[str, float] | None:
    """{"latitude", "longitude"[, "altitude"]} in decimal degrees (south and west negative), or None."""
    try:
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except (ValueError, KeyError, TypeError, OSError, SyntaxError):
        return None
    lat = _degrees(info.get(ExifTags.GPS.GPSLatitude), info.get(ExifTags.GPS.GPSLatitudeRef))
    lon = _degrees(info.get(ExifTags.GPS.GPSLongitude), info.get(ExifTags.GPS.GPSLongitudeRef))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    result = {"latitude": lat, "longitude": lon}
    altitude = info.get(ExifTags.GPS.GPSAltitude)
    if altitude is not None:
        try:
            value = float(altitude)
            if math.isfinite(value):
                below = info.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01")
                result["altitude"] = round(-value if below else value, 2)
        except (TypeError, ValueError, ZeroDivisionError):
            pass
    return result


def parse_time(text: str, offset: str | None = None) -> int | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" (an ISO string also does) as ms since the epoch, UTC.

    With an offset ("+02:00", EXIF's OffsetTimeOriginal) the local time is turned into UTC; without
    one the time is taken as UTC, since EXIF does not say otherwise.
    """
    text = text.replace("\x00", "").strip()
    if not text or text.startswith("0000"):
        return None
    parsed: dt.datetime | None = None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
        try:
            parsed = dt.datetime.strptime(text[:19] if "S" in fmt else text[: len(fmt) + 2], fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        tz: dt.tzinfo = dt.UTC
        if offset:
            try:
                tz = dt.datetime.strptime(offset.strip(), "%z").tzinfo or dt.UTC
            except ValueError:
                tz = dt.UTC
        parsed = parsed.replace(tzinfo=tz)
    if not 1800 <= parsed.year <= 9999:
        return None
    return int(parsed.timestamp() * 1000)


def capture_time(exif: Image.Exif) -> tuple[int | None, str | None, str | None]:
    """(ms since the epoch UTC, the raw text, its offset) from DateTimeOriginal, else DateTimeDigitized, DateTime."""
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except (ValueError, KeyError, TypeError, OSError, SyntaxError):
        sub = {}
    candidates = (
        (sub.get(ExifTags.Base.DateTimeOriginal), sub.get(ExifTags.Base.OffsetTimeOriginal)),
        (sub.get(ExifTags.Base.DateTimeDigitized), sub.get(ExifTags.Base.OffsetTimeDigitized)),
        (exif.get(ExifTags.Base.DateTime), sub.get(ExifTags.Base.OffsetTime)),
    )
    for raw, offset in candidates:
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "ignore")
        if isinstance(offset, bytes):
            offset = offset.decode("ascii", "ignore")
        if isinstance(raw, str) and raw.strip():
            ms = parse_time(raw, offset if isinstance(offset, str) else None)
            if ms is not None:
                return ms, raw.replace("\x00", "").strip(), offset if isinstance(offset, str) else None
    return None, None, None


def camera(exif: Image.Exif) -> dict[str, str] | None:
    make, model = exif.get(ExifTags.Base.Make), exif.get(ExifTags.Base.Model)
    result = {k: str(v).replace("\x00", "").strip() for k, v in (("make", make), ("model", model)) if v}
    return result or None
