"""The caps and character rules every event is held to; part of the client contract.

Limits (the `MAX_*` constants below; clients see them as `maxLength` in /docs):
- ids (event_id, link_id, link_slug, user_id, team_id, project_id, qr_code_id, visitor_id,
  session_id) <= 128 characters; event_type <= 64; names, labels, titles, emails, utm_*, geo,
  device, browser, os and conversion_type <= 256; link_original_url and referrer <= 2048;
  user_agent <= 1024. The request's own User-Agent / Referer headers are truncated to those
  caps instead: only what the client wrote in the event is refused.
- each *_attributes object <= 16 KiB as compact JSON and nested <= 8 levels (the object itself
  is level 1); link_tags <= 64 tags of <= 128 characters each.
- time_spent_sec in [0, 10 years of seconds]; conversion_value in [-1e15, 1e15]; both finite.
- Text: no C0 control characters (U+0000-U+001F) or DEL in any top-level string, except tab,
  line feed and carriage return in link_title (free text, pasted from pages). Attribute JSON
  may hold any escaped control character except NUL, which is refused everywhere (C-string
  consumers of the column would cut the value there). Lone surrogates are refused everywhere.
They are constants, not settings: the model and its OpenAPI schema are built at import,
before any settings exist, and they are part of the client contract, so every deployment
must agree on them.
"""

from __future__ import annotations

import re

# Caps (see the module docstring). Characters are code points, as `len(str)` counts them.
MAX_ID_CHARS = 128
MAX_EVENT_TYPE_CHARS = 64
MAX_NAME_CHARS = 256
MAX_URL_CHARS = 2048
MAX_USER_AGENT_CHARS = 1024
MAX_ATTRIBUTES_BYTES = 16 * 1024
MAX_ATTRIBUTES_DEPTH = 8
MAX_TAGS = 64
MAX_TAG_CHARS = 128
MAX_TIME_SPENT_SEC = 10 * 365 * 86_400
MAX_ABS_CONVERSION_VALUE = 1e15
MAX_IP_CHARS = 64  # longer cannot be an address (IPv6 with a zone id stays well under)

# Checked by pydantic-core's regex engine (~0.06 µs a field, only for fields sent). Anchored
# with ^...$: that engine's `$` is the end of the text, never before a final newline.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tab, LF and CR allowed
TAG_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
