"""FF1 against the NIST SP 800-38G samples (AES-128)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyslot.protocol.ff1 import FF1

KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")


@pytest.mark.parametrize(
    ("radix", "tweak", "plain", "cipher"),
    [
        (10, "", "0123456789", "2433477484"),
        (10, "39383736353433323130", "0123456789", "6124200773"),
        (36, "3737373770717273373737", "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    ],
)
def test_nist_samples(radix: int, tweak: str, plain: str, cipher: str) -> None:
    ff1 = FF1(KEY, radix)
    assert ff1.encrypt(plain, bytes.fromhex(tweak)) == cipher
    assert ff1.decrypt(cipher, bytes.fromhex(tweak)) == plain


@given(st.text("0123456789", min_size=6, max_size=16), st.binary(max_size=20))
def test_round_trip(digits: str, tweak: bytes) -> None:
    ff1 = FF1(KEY)
    out = ff1.encrypt(digits, tweak)
    assert len(out) == len(digits)
    assert out.isdigit()
    assert ff1.decrypt(out, tweak) == digits


def test_rejects_bad_input() -> None:
    ff1 = FF1(KEY)
    with pytest.raises(ValueError, match="numeral"):
        ff1.encrypt("12a456")
    with pytest.raises(ValueError, match="1,000,000"):
        ff1.encrypt("12345")
    with pytest.raises(ValueError, match="AES"):
        FF1(b"short")
