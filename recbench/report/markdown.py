"""Text from records, labels, options and file names, escaped for where it lands in Markdown
(and so in any HTML view of it): a ``|`` or a line break must not split a table row or start a
new one, a backtick must not end a code span early, and ``<script>`` must stay text."""

from __future__ import annotations

import hashlib

import html
import re
from typing import Any

from recbench.results.run_record import Estimate

_SPECIAL = re.compile(r"([\\`*_\[\]#!|])")


def one_line(value: Any) -> str:
    return re.sub(r"[\r\n\t\v\f\u2028\u2029]+", " ", str(value))


def md_text(value: Any) -> str:
    """Plain text in a table cell, heading or paragraph: HTML-escaped, Markdown's specials
    backslash-escaped, on one line."""
    return _SPECIAL.sub(r"\\\1", html.escape(one_line(value), quote=False))


def md_code(value: Any) -> str:
    """Text as inline code (a row's label): a backtick span fenced with more backticks than it
    holds, its ``|`` escaped (GitHub splits table cells at ``|`` even in code), on one line. Text
    holding HTML's ``<``, ``>`` or ``&`` becomes a ``<code>`` element with its content escaped
    instead, so that no view of the file, rendered or not, carries it as markup."""
    text = one_line(value)
    if any(c in text for c in "<>&"):
        return f"<code>{md_text(text)}</code>"
    text = text.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_link_target(path: str) -> str:
    """A relative link's target with the characters that would end or break it encoded."""
    return "".join(f"%{ord(c):02X}" if c in " ()<>|[]\"'`\n\r" else c for c in str(path))


def fmt_train_minutes(row: Any) -> str:
    """A row's training minutes, with the device where it was not the CPU: minutes on an
    accelerator are not minutes on these 2 cores."""
    minutes, device = row.get("train_minutes"), row.get("train_device")
    if minutes is None or not isinstance(minutes, (int, float)) or minutes != minutes:
        return "–"
    text = f"{minutes:,.1f}"
    if not isinstance(device, str) or device == "cpu":
        return text
    if device.startswith("cpu; "):  # seeds on several devices: the minutes are the CPU seeds'
        return f"{text} (CPU seeds)"
    return f"{text} on {device.split(' (')[0]}"


def file_slug(text: str) -> str:
    """A dataset's or row's name as a file name: letters, digits, '-', '_' and '.' kept, the rest
    '_', and then a digest of the whole name, so that two names differing only where a character
    was replaced ('a b' and 'a_b') never share a page or a plot."""
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    if slug == text:
        return slug
    return f"{slug}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:6]}"


def fmt_estimate(est: Estimate | dict[str, Any] | None, digits: int = 2) -> str:
    if isinstance(est, Estimate):
        est = est.to_dict()
    if not est or est.get("value") is None:
        return "–"
    value = f"{est['value']:.{digits}f}"
    if est.get("ci_low") is None or est.get("ci_high") is None:
        return value
    return f"{value} [{est['ci_low']:.{digits}f}, {est['ci_high']:.{digits}f}]"
