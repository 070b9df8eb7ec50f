"""HTTP byte ranges (RFC 9110 section 14), as the path gateway serves them: one range per request."""

from __future__ import annotations

import re

from gateway.documents.errors import InvalidRange

__all__ = ["parse_range"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single ``bytes=`` range; None to serve everything (no header, or a form
    we choose to ignore such as several ranges); ``InvalidRange`` when unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # the last N bytes
        n = int(last_text)
        if n == 0:
            raise InvalidRange(f"cannot serve the last 0 bytes of a {size}-byte file")
        return max(0, size - n), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or (last_text and int(last_text) < first):
        raise InvalidRange(f"range {header!r} is outside the {size}-byte file")
    return first, last
