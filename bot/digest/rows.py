"""The weekly rollup's one statement: every figure's SELECT in one UNION ALL, rows tagged by figure.

A digest needs one large count (the week's replies) and a dozen small aggregates. Sent one by
one, each small query costs more in its round trip and result set than in the database, so each
figure is a SELECT with named columns and the rollup sends them together. The union's columns are
every name any figure uses (in order of appearance); each SELECT fills its own and leaves typed
NULLs in the others (so that PostgreSQL can type every column), after a first column naming the
figure. `read` gives each figure back its rows as tuples of its own columns, in its SELECT's order.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Executor = AsyncSession | AsyncConnection
Figure = tuple[str, sa.Select]  # a figure's name and its SELECT, whose columns all have names
Figures = tuple[Figure, ...]


def _shape(figures: Figures) -> dict[str, sa.types.TypeEngine]:
    """Every column name of `figures`, with the type it has where it first appears."""
    columns: dict[str, sa.types.TypeEngine] = {}
    for _, query in figures:
        for column in query.selected_columns:
            columns.setdefault(column.name, column.type)
    return columns


@functools.cache
def union(figures: Figures) -> sa.CompoundSelect:
    shape = _shape(figures)
    branches = []
    for figure, query in figures:
        given = {column.name: column for column in query.selected_columns}
        filled = (given.get(name, sa.cast(sa.null(), kind)).label(name) for name, kind in shape.items())
        branches.append(query.with_only_columns(sa.literal(figure).label("figure"), *filled))
    return sa.union_all(*branches)


@functools.cache
def _pickers(figures: Figures) -> dict[str, Callable[[Row], tuple]]:
    """For each figure, what takes its own columns (in its SELECT's order) out of a row of the union."""
    position = {name: i for i, name in enumerate(_shape(figures), start=1)}  # 0 names the figure
    pickers: dict[str, Callable[[Row], tuple]] = {}
    for figure, query in figures:
        picks = [position[column.name] for column in query.selected_columns]
        pickers[figure] = operator.itemgetter(*picks) if len(picks) > 1 else lambda row, i=picks[0]: (row[i],)
    return pickers


async def read(
    session: Executor, figures: Iterable[Figure], params: Mapping[str, object]
) -> dict[str, list[tuple]]:
    """Each figure's rows, from one statement; a figure without rows gets an empty list."""
    figures = tuple(figures)
    pickers = _pickers(figures)
    rows: dict[str, list[tuple]] = {figure: [] for figure in pickers}
    for row in await session.execute(union(figures), dict(params)):
        rows[row[0]].append(pickers[row[0]](row))
    return rows
