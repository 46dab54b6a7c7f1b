"""Lock URLs: the one reading the store and the drivers share never lets a password through
and never fails with anything but `LockUrlError`."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from keyslot.protocol.lock_url import (
    SCHEMES,
    LockUrlError,
    parse_lock_url,
    redact_url,
    url_scheme,
)

schemes = st.sampled_from(SCHEMES)
users = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=8)
# anything but what ends the user information, and control characters (urllib drops them)
passwords = st.text(
    st.characters(blacklist_characters="/?#@", blacklist_categories=("Cc", "Cs")), min_size=1
)
hosts = st.text("abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=12)
tails = st.sampled_from(["", "/5", "/5?prefix=zwave", "?timeout=1.0", "#frag", "/a@b"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(schemes, users, passwords, hosts, tails)
def test_a_password_is_never_shown(
    scheme: str, user: str, password: str, host: str, tail: str
) -> None:
    url = f"{scheme}://{user}:{password}@{host}{tail}"
    shown = redact_url(url)
    assert shown == f"{scheme}://{user}:***@{host}{tail}"
    try:
        parsed = parse_lock_url(url)
    except LockUrlError:
        return  # a host and port the drivers cannot read: refused, never shown whole
    assert parsed.password == password  # the same reading as urllib's
    assert parsed.redacted == shown
    assert repr(parsed) == f"LockUrl({shown!r})"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=60))
def test_any_text_is_a_lock_url_or_a_lock_url_error(text: str) -> None:
    try:
        scheme = url_scheme(text)
    except LockUrlError:
        scheme = None
    assert scheme is None or scheme in SCHEMES
    with contextlib.suppress(LockUrlError):
        assert parse_lock_url(text).scheme == scheme
    shown = redact_url(text)
    if "@" not in text:
        assert shown == text


@settings(max_examples=200, deadline=None, derandomize=True)
@given(schemes, st.text(min_size=1, max_size=40).filter(lambda t: "@" not in t))
def test_a_url_without_user_information_is_shown_as_it_is(scheme: str, rest: str) -> None:
    url = f"{scheme}://{rest}"
    assert redact_url(url) == url
    assert url_scheme(f"{scheme.upper()}://{rest}") == scheme
