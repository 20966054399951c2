"""User-facing errors: one line, naming the file and the dotted key, never a traceback.

try:
    spec = load_spec(path)
except SpecError as err:
    sys.exit(report_user_error(err))   # prints "scalesweep: error: <one line>" and returns 2
"""

from __future__ import annotations

import re
import sys

from contract.errors import validation_line as format_validation_error

USER_ERROR_EXIT = 2

# The one-line form of a pydantic error lives in the contract (models and analysis use it too).
__all__ = [
    "USER_ERROR_EXIT",
    "SpecError",
    "describe_crash",
    "format_validation_error",
    "report_user_error",
]


class SpecError(ValueError):
    """A mistake in a spec, an override or the command line; its text is shown as is."""


def report_user_error(err: BaseException) -> int:
    """Print the error as a single line on stderr and return the exit status for it."""
    text = " ".join(str(err).split()) or err.__class__.__name__
    print(f"scalesweep: error: {text}", file=sys.stderr)
    return USER_ERROR_EXIT


def describe_crash(text: str) -> str:
    """One line for a trial whose process died, from what Ray recorded: an out-of-memory
    kill, its node's death, a signal or an exit code when Ray states one, else Ray's own exit
    detail."""
    flat = " ".join(text.split())
    if re.search(r"running low on memory|OutOfMemoryError|out of memory", flat, re.I):
        return "trial process killed: out of memory"
    node = re.search(r"its node (?:has )?died\.? Node Id: ([0-9a-f]+)", flat)
    if node:  # a lost machine: its raylet missed its health checks, its processes are gone
        return f"trial's node died (node {node.group(1)[:12]})"
    if re.search(r"is unavailable: .*(?:Socket closed|Connection reset|Connection refused)", flat):
        # Its connection broke before Ray knew why: the first sign of a lost node (Ray declares
        # the node dead only after its health checks fail) or of a killed process.
        return "trial process unreachable (connection closed: its node lost or process killed)"
    signal = re.search(r"(?:killed by|received|by) signal (SIG[A-Z0-9]+|\d+)", flat)
    if signal:
        return f"trial process killed by signal {signal.group(1)}"
    code = re.search(r"exit(?:ed with)? code[ =:]+(-?\d+)", flat)
    if code:
        return f"trial process exited with code {code.group(1)}"
    detail = re.search(r"Worker exit detail: (.+?\.)(?: |$)", flat)
    if detail:
        return f"trial process died: {detail.group(1)}"
    return "trial process died (Ray recorded no reason; see its logs)"
