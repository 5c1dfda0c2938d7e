"""The error that formulation code raises for bad input.

Formulation code knows *which field* is wrong but not *where* it was written
(file, row, mineral).  The case loader in ``mineq.solver.case`` catches
:class:`SpecError` and adds that location before it reaches the user.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A field of a curve, route, process or policy has a bad value.

    Parameters
    ----------
    field:
        The key as the user wrote it (``"slope"``, ``"demand.elasticity"``).
    value:
        The offending value, shown with ``repr``.
    expected:
        What would have been accepted, phrased for a user.
    """

    def __init__(self, field: str, value: object, expected: str):
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"field '{field}' is {value!r}; expected {expected}")

    def prefixed(self, prefix: str) -> "SpecError":
        """The same error with the field name qualified by ``prefix``."""
        return SpecError(f"{prefix}.{self.field}" if prefix else self.field, self.value, self.expected)
