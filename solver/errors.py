"""Errors a user sees: one paragraph, no traceback."""

from __future__ import annotations

#: characters of a bad value an error message shows
SHOWN = 200


class CaseError(Exception):
    """Bad input in a case, located for the user.

    The message names the file, the place in it (mineral/stage/region or
    CSV row), the field, the bad value and what was expected.
    """

    def __init__(self, file: str, where: str, field: str, value: object, expected: str):
        self.file, self.where, self.field, self.value, self.expected = file, where, field, value, expected
        place = f"{file}" + (f", {where}" if where else "")
        try:
            shown = value if isinstance(value, str) and value.startswith("(") else repr(value)
        except RecursionError:
            shown = "(a value nested too deeply to show)"
        if len(shown) > SHOWN:
            # one paragraph, and no more of a file than the value's start
            shown = f"{shown[:SHOWN]}... ({len(shown)} characters)"
        what = f"field '{field}' is {shown}" if field else f"the value is {shown}"
        super().__init__(f"Bad case input in {place}: {what}; expected {expected}.")


class MineqError(Exception):
    """Any other failure explained in a sentence (solver trouble, bad result file)."""
