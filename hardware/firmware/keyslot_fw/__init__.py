"""keyslot reference keypad firmware: the serial protocol, a slot table and a keypad.

Plain Python that runs under MicroPython (on a Raspberry Pi Pico) and under CPython (in
the host shim that CI drives). It never imports keyslot: it follows
`hardware/serial-protocol.md` on its own, so the conformance suite judges it from outside.
"""

VERSION = "1.0.0"
