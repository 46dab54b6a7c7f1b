"""Logging for a terminal and for journald, with PINs redacted as a last line of defence.

Under systemd, stderr is a journal stream (`$JOURNAL_STREAM` names it); a line starting with
`<N>` then carries its syslog priority, so `journalctl -p warning` filters properly and the
journal adds the timestamp itself. Everywhere else a line gets a timestamp and a level name.
No code should ever log a PIN; the redaction below only catches the mistake if one does.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import TextIO

__all__ = [
    "JournalFormatter",
    "PinRedactingFilter",
    "PlainFormatter",
    "redact_pins",
    "setup_logging",
    "stream_is_journal",
]

# syslog priorities (sd-daemon(3)): what journald reads from a `<N>` prefix
_PRIORITY = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
_DEBUG_PRIORITY = 7

_MASK = "***"
# field names that hold a PIN in keyslot, Seam, zwave-js-ui and zigbee2mqtt payloads
_PIN_KEYS = r"(?:code|pin|pin_code|pinCode|passcode|user_code|userCode|new_code|old_code)"
# a value as it looks after `=` or `:`: quoted, or a bare run up to a delimiter
_QUOTED = r"(?P<q>[\"'])(?P<qv>[^\"'\n]*)(?P=q)"
_BARE = r"(?P<bv>[^\s\"',;&)}\]]+)"
_PIN_FIELD = re.compile(
    rf"(?P<key>(?<![\w.-]){_PIN_KEYS}|[\"']{_PIN_KEYS}[\"'])(?P<sep>\s*[=:]\s*)(?:{_QUOTED}|{_BARE})",
    re.IGNORECASE,
)
# zwave-js-ui value topics: `.../99/0/userCode/3[/set] {"value": "0123"}`
_USER_CODE_VALUE = re.compile(
    r"(?P<head>userCode/\d+(?:/set)?\W{0,8}\{[^{}]*?[\"']value[\"']\s*:\s*)"
    r"(?:(?P<q>[\"'])[^\"'\n]*(?P=q)|[0-9]+)",
    re.IGNORECASE,
)
# a value that cannot be a PIN: identifiers like `invalid_config`, None/null, or masked
_NOT_A_PIN = re.compile(r"^(?:|none|null|true|false|\*+|.*_.*)$", re.IGNORECASE)


def _replace_field(match: re.Match[str]) -> str:
    quoted = match.group("q")
    value = match.group("qv") if quoted else match.group("bv")
    if _NOT_A_PIN.match(value) or len(value) > 32:
        return match.group(0)
    masked = f"{quoted}{_MASK}{quoted}" if quoted else _MASK
    return f"{match.group('key')}{match.group('sep')}{masked}"


def redact_pins(text: str) -> str:
    """`text` with every value in a `code=`/`"code":`/`pin=`-like context replaced by ***."""
    if not text:
        return text
    text = _PIN_FIELD.sub(_replace_field, text)
    return _USER_CODE_VALUE.sub(lambda m: f'{m.group("head")}"{_MASK}"', text)


class PinRedactingFilter(logging.Filter):
    """Rewrites a record's message (arguments merged in) with PINs redacted.

    Attach it to handlers (not loggers): a handler filter sees records from every logger
    that propagates to it, third-party ones included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep the record as it is
            return True
        redacted = redact_pins(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_pins(record.exc_text)
        return True


def priority(levelno: int) -> int:
    """The syslog priority journald should record for a Python log level."""
    for threshold, value in _PRIORITY:
        if levelno >= threshold:
            return value
    return _DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """`<N>logger: message`; the journal adds time, host and unit itself.

    A traceback is folded onto the same record: journald splits on newlines and would give
    the continuation lines the default priority, so they are indented instead and each one
    carries the priority prefix.
    """

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact_pins(super().format(record))
        prefix = f"<{priority(record.levelno)}>"
        first, *rest = text.split("\n")
        return "\n".join([prefix + first, *(f"{prefix}  {line}" for line in rest)])


class PlainFormatter(logging.Formatter):
    """`2026-03-02 09:00:00,000 INFO logger: message`, for a terminal or a file."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact_pins(super().format(record))


def stream_is_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd connected (`$JOURNAL_STREAM=dev:ino`).

    Comparing device and inode (as sd_journal_stream_fd(3) advises) keeps the prefixes out
    of a file that stderr was redirected to under systemd.
    """
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return info.st_dev == int(device) and info.st_ino == int(inode)


def setup_logging(
    level: str | int = "info",
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    journal: bool | None = None,
) -> logging.Handler:
    """Send every log record to `stream` (stderr) in the journal's or a terminal's format.

    Replaces the root logger's handlers (so calling it twice does not double lines) and
    returns the handler. `journal` forces the format; by default `$JOURNAL_STREAM` decides.
    """
    out = sys.stderr if stream is None else stream
    use_journal = stream_is_journal(out, environ) if journal is None else journal
    handler = logging.StreamHandler(out)
    handler.setFormatter(JournalFormatter() if use_journal else PlainFormatter())
    handler.addFilter(PinRedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = level if isinstance(level, int) else logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(numeric)
    return handler
