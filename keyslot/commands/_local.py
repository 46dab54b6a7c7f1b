"""What the store-backed commands (`codes`, `locks`, `keys`) share: the data directory
option, opening the store, masking PINs, and turning errors into one line on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "add_data_dir",
    "fail",
    "mask",
    "open_store",
    "print_json",
    "print_table",
    "run_guarded",
]


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the store lives (default: $KEYSLOT_DATA_DIR or ~/.local/share/keyslot)",
    )


def open_store(args: argparse.Namespace) -> Any:
    """The store of `--data-dir` (created on first use, with its key file)."""
    from keyslot.store import Store, default_data_dir

    return Store.open(args.data_dir or default_data_dir())


def mask(code: str | None, show: bool) -> str:
    """A PIN as a listing shows it: hidden unless `--show-codes`, and never its length."""
    if code is None:
        return "-"
    return code if show else "****"


def print_table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for line in (headers, *rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        out.write("\n")


def print_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"keyslot: {message}\n")
    return code


def run_guarded(action: Callable[[], int]) -> int:
    """Run a command, answering keyslot's own errors with one line instead of a traceback."""
    from keyslot.protocol.slots import KeyslotError

    try:
        return action()
    except KeyslotError as exc:
        return fail(exc.message)
