import io

import pytest

from keyslot.commands import pair


@pytest.mark.parametrize(
    ("answer", "kept"), [("y\n", True), ("yes\n", True), ("\n", False), ("n\n", False)]
)
async def test_confirmation_prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str, kept: bool
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    assert await pair._ask_confirmation("123456") is kept
    assert "123456" in capsys.readouterr().out


def test_unknown_scheme_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from keyslot.cli import main

    assert main(["pair", "nfc://x"]) != 0
    assert "unknown lock URL scheme" in capsys.readouterr().err
