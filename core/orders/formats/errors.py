"""The one error an order import raises: precise enough for a shop owner to fix the file."""

from __future__ import annotations


class ImportFileError(ValueError):
    """A bad file: says which file, where (line number and/or order number), which field and why.

    ``str(err)`` reads like
    ``orders.csv, line 7 (order #1003), field 'Lineitem price': not a decimal amount: 'abc'``.
    """

    def __init__(
        self,
        file: str,
        reason: str,
        *,
        line: int | None = None,
        order: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.reason = reason
        self.line = line
        self.order = order
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.order is not None:
            where += f" (order {self.order})" if self.line is not None else f", order {self.order}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[object, ...]:
        """Keep the keyword-only context when the error crosses a process boundary."""
        return (_rebuild, (self.file, self.reason, self.line, self.order, self.field))


def _rebuild(
    file: str, reason: str, line: int | None, order: str | None, field: str | None
) -> ImportFileError:
    return ImportFileError(file, reason, line=line, order=order, field=field)
