"""Log lines for journald and terminals, and the last-line-of-defence PIN redaction."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyslot.logsetup import (
    JournalFormatter,
    PinRedactingFilter,
    redact_pins,
    setup_logging,
    stream_is_journal,
)


@pytest.fixture(autouse=True)
def _keep_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def fail(message: str) -> None:
    raise ValueError(message)


@pytest.mark.parametrize(
    ("line", "pin"),
    [
        ("write slot 3 code=1234 name=Bob", "1234"),
        ('{"code": "0123", "name": "Guest"}', "0123"),
        ("{'code': '987654'}", "987654"),
        ('"code": 24680,', "24680"),
        ("SlotEntry(code='13579', name=None)", "13579"),
        ("PIN: 4321 entered", "4321"),
        ('pin_code="5555"', "5555"),
        ("userCode=7777", "7777"),
        ('publish zwave/nodeID_2/99/0/userCode/3/set {"value":"0246"}', "0246"),
        ('{"pin_code": {"user": 3, "pin_code": "8642"}}', "8642"),
    ],
)
def test_pins_in_code_contexts_are_redacted(line: str, pin: str) -> None:
    redacted = redact_pins(line)
    assert pin not in redacted
    assert "***" in redacted


@pytest.mark.parametrize(
    "line",
    [
        "error code=invalid_config",
        "access_code_id=3f2a1b00-aaaa-4bbb-8ccc-123456789abc status_code=200",
        "code=None",
        "codes=3 slots=30",
        '{"code": null}',
        "node 12 answered in 1234 ms",
    ],
)
def test_other_text_is_left_alone(line: str) -> None:
    assert redact_pins(line) == line


def test_plain_format_outside_systemd_redacts_arguments_and_tracebacks() -> None:
    out = io.StringIO()
    setup_logging("debug", stream=out, environ={})
    log = logging.getLogger("keyslot.test")
    log.info("wrote slot %d code=%s", 4, "8080")
    try:
        fail("lock refused code=9191")
    except ValueError:
        log.exception("write failed")
    text = out.getvalue()
    assert "8080" not in text
    assert "9191" not in text
    assert " INFO keyslot.test: wrote slot 4 code=***" in text
    assert " ERROR keyslot.test: write failed" in text
    assert "ValueError: lock refused code=***" in text
    assert not text.startswith("<")


def test_journal_format_carries_priorities_and_no_timestamp() -> None:
    out = io.StringIO()
    setup_logging("debug", stream=out, journal=True)
    log = logging.getLogger("keyslot.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    assert out.getvalue().splitlines() == [
        "<7>keyslot.test: d",
        "<6>keyslot.test: i",
        "<4>keyslot.test: w",
        "<3>keyslot.test: e",
        "<2>keyslot.test: c",
    ]


def test_a_traceback_keeps_its_priority_on_every_line() -> None:
    formatter = JournalFormatter()
    try:
        fail("boom")
    except ValueError:
        record = logging.LogRecord(
            "keyslot", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    lines = formatter.format(record).splitlines()
    assert lines[0] == "<3>keyslot: failed"
    assert len(lines) > 2
    assert all(line.startswith("<3>  ") for line in lines[1:])


def test_journal_stream_is_recognised_by_device_and_inode(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream, (tmp_path / "other").open("w") as other:
        info = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert stream_is_journal(stream, env)
        assert not stream_is_journal(other, env)  # stderr redirected to a file under systemd
        assert not stream_is_journal(stream, {})
        assert not stream_is_journal(stream, {"JOURNAL_STREAM": "garbage"})
        assert not stream_is_journal(io.StringIO(), env)  # no file descriptor


def test_setup_picks_the_journal_format_from_the_environment(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w+") as stream:
        info = os.fstat(stream.fileno())
        setup_logging(
            "info", stream=stream, environ={"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        )
        logging.getLogger("keyslot.gateway").warning("lock offline")
        stream.seek(0)
        assert stream.read() == "<4>keyslot.gateway: lock offline\n"


def test_setup_twice_does_not_double_lines() -> None:
    out = io.StringIO()
    setup_logging("info", stream=out, environ={})
    setup_logging("info", stream=out, environ={})
    logging.getLogger("keyslot").info("once")
    assert out.getvalue().count("once") == 1


def test_the_filter_redacts_for_other_handlers() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(PinRedactingFilter())
    log = logging.getLogger("keyslot.third_party")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("payload %s", {"code": "1357", "name": "x"})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert out.getvalue() == "payload {'code': '***', 'name': 'x'}\n"


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("chatty", stream=io.StringIO(), environ={})
