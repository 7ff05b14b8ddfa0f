"""Tables that fit the terminal: every figure in full, whole columns giving way when it is narrow.

A table that merely shrinks every column to the terminal's width cuts figures short ("65.…",
"9…/s") and hides the ones that matter. Here each column is drawn at its widest cell; a text column
that may shrink (a name, a step) gives up to its ``shortest`` first, then whole columns are left out,
least useful first, until the table fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Literal, NamedTuple, TypeVar

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

T = TypeVar("T")

GAP = 2  # between two columns: the padding on either side


class Column(NamedTuple, Generic[T]):
    """A column: its header, the cell of a row, how it is aligned, and, for a text that may be cut
    short (with an ellipsis), the width it may shrink to. Cells other than Text take ``width``."""

    header: str
    cell: Callable[[T], RenderableType]
    justify: Literal["left", "right"] = "left"
    shortest: int | None = None
    width: int = 0


class FittedTable(Generic[T]):
    """``rows`` under ``columns`` (in the order shown), fitted to the width it is drawn in: the columns
    named in ``dropped`` are left out, in that order, while the table does not fit. ``marker`` and
    ``style`` give each row a one-cell marker in front and a style."""

    def __init__(
        self,
        columns: Sequence[Column[T]],
        rows: Sequence[T],
        dropped: Sequence[str],
        *,
        marker: Callable[[T], str] | None = None,
        style: Callable[[T], str | None] | None = None,
    ) -> None:
        self.columns = {column.header: column for column in columns}
        self.rows = rows
        self.dropped = dropped
        self.marker = marker
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Each cell is built once: measured, then drawn.
        cells = {name: [column.cell(row) for row in self.rows] for name, column in self.columns.items()}
        widths = self._widths(cells, options.max_width)
        table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
        if self.marker is not None:
            table.add_column("", no_wrap=True, width=1)
        for name, width in widths.items():
            column = self.columns[name]
            table.add_column(name, no_wrap=True, overflow="ellipsis", justify=column.justify, width=width)
        for index, row in enumerate(self.rows):
            marker = [self.marker(row)] if self.marker is not None else []
            table.add_row(
                *marker,
                *(cells[name][index] for name in widths),
                style=self.style(row) if self.style is not None else None,
            )
        yield table

    def _widths(self, cells: dict[str, list[RenderableType]], max_width: int) -> dict[str, int]:
        """The columns drawn in ``max_width`` cells, with their widths."""
        widest = {
            name: max([len(name)] + [cell.cell_len if isinstance(cell, Text) else column.width for cell in cells[name]])
            for name, column in self.columns.items()
        }
        widths = {name: min(widest[name], column.shortest or widest[name]) for name, column in self.columns.items()}
        for name in self.dropped:
            if self._width(widths) <= max_width:
                break
            del widths[name]
        spare = max_width - self._width(widths)
        for name in widths:
            if spare <= 0:
                break
            grown = min(spare, widest[name] - widths[name])
            widths[name] += grown
            spare -= grown
        return widths

    def _width(self, widths: dict[str, int]) -> int:
        marker = 1 + GAP if self.marker is not None else 0
        return marker + sum(widths.values()) + GAP * (len(widths) - 1)
