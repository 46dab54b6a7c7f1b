"""Raspberry Pi Pico main loop: the host on UART0, a 4x4 keypad, a relay and one button.

Copy `keyslot_fw/` and this file to the board (see README.md). The pin map is below; the
core (`keyslot_fw.lock.Lock`) does the protocol, the slot table and the keypad rules.
"""

import binascii
import os
import time

import machine
from keyslot_fw.keypad import Debouncer, Matrix
from keyslot_fw.lock import Lock
from keyslot_fw.platform import MicroPythonPlatform

UART_ID = 0
UART_TX = 0  # GP0 -> the host adapter's RX
UART_RX = 1  # GP1 <- the host adapter's TX
BAUD = 115200
ROW_PINS = (2, 3, 4, 5)  # GP2..GP5: keypad rows 1..4 (outputs)
COL_PINS = (6, 7, 8, 9)  # GP6..GP9: keypad columns 1..4 (inputs, pull-up)
RELAY_PIN = 15  # GP15: relay module input (active high)
BUTTON_PIN = 14  # GP14: push button to GND
STATE_DIR = "/keyslot"

RELAY_MS = 5000  # the door strike stays open this long
SCAN_MS = 5  # keypad scan period; three equal scans make a key press
LONG_PRESS_MS = 3000  # button held this long: pairing mode; shorter: manager mode
PAIRING_WINDOW_MS = 120000


def lock_id():
    return "pico-" + binascii.hexlify(machine.unique_id()).decode()


def _state_dir():
    if STATE_DIR.strip("/") not in os.listdir("/"):
        os.mkdir(STATE_DIR)
    return STATE_DIR


class Board:
    def __init__(self):
        pin = machine.Pin
        self.uart = machine.UART(
            UART_ID, baudrate=BAUD, tx=pin(UART_TX), rx=pin(UART_RX), rxbuf=1024, txbuf=1024
        )
        self.rows = [pin(n, pin.OUT, value=1) for n in ROW_PINS]
        self.cols = [pin(n, pin.IN, pin.PULL_UP) for n in COL_PINS]
        self.relay = pin(RELAY_PIN, pin.OUT, value=0)
        self.button = pin(BUTTON_PIN, pin.IN, pin.PULL_UP)
        self.led = pin("LED", pin.OUT, value=0)
        self.matrix = Matrix(self.rows, self.cols)
        self.keys = Debouncer(3)
        self.relay_until = None
        self.led_until = None
        self.pressed_at = None
        self.lock = Lock(MicroPythonPlatform(), _state_dir(), lock_id(), on_paired=self.paired)

    def paired(self, confirmation):
        # no display on a bare Pico: the code shows on the USB console (mpremote repl)
        print("paired; confirmation code", confirmation)

    def flash_led(self, ms):
        self.led.value(1)
        self.led_until = time.ticks_add(time.ticks_ms(), ms)

    def on_result(self, result):
        if result.unlocked:
            self.relay.value(1)
            self.relay_until = time.ticks_add(time.ticks_ms(), RELAY_MS)
            self.flash_led(RELAY_MS)
        else:
            self.flash_led(150 if result.reason in ("code_set", "code_deleted") else 1000)

    def on_button(self, now):
        down = self.button.value() == 0
        if down and self.pressed_at is None:
            self.pressed_at = now
        elif not down and self.pressed_at is not None:
            held = time.ticks_diff(now, self.pressed_at)
            self.pressed_at = None
            if held >= LONG_PRESS_MS:
                self.lock.start_pairing(PAIRING_WINDOW_MS)
                print("pairing mode for", PAIRING_WINDOW_MS // 1000, "s")
                self.flash_led(PAIRING_WINDOW_MS)
            elif held >= 50:
                self.lock.start_manager()
                self.flash_led(300)

    def step(self, now):
        waiting = self.uart.any()
        if waiting:
            out = self.lock.receive(self.uart.read(waiting))
            if out:
                self.uart.write(out)
        if not self.lock.link.deframer.partial:
            out = self.lock.poll()
            if out:
                self.uart.write(out)
        key = self.keys.update(self.matrix.scan())
        if key is not None:
            result = self.lock.key(key)
            if result is not None:
                self.on_result(result)
        self.on_button(now)
        if self.relay_until is not None and time.ticks_diff(now, self.relay_until) >= 0:
            self.relay.value(0)
            self.relay_until = None
        if self.led_until is not None and time.ticks_diff(now, self.led_until) >= 0:
            self.led.value(0)
            self.led_until = None


def main():
    board = Board()
    watchdog = machine.WDT(timeout=8000)  # a hung loop restarts the board
    while True:
        watchdog.feed()
        board.step(time.ticks_ms())
        time.sleep_ms(SCAN_MS)


main()
