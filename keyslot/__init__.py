"""keyslot: keeps the PIN codes of keypad locks in the state their owners asked for."""

__version__ = "0.1.0"
