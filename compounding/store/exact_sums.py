"""Exact sums of decimal text in SQL (issue 18): the one definition behind ``lot_stock_exact``
(migration m019) and the reader that turns its columns back into Decimals.

Amounts are stored as decimal text (``units.plain``: digits, at most one '.', a leading '-'
only on a stock adjustment). SQLite has no decimal type: ``SUM(CAST(x AS REAL))`` rounds, and
Decimal in Python must read every row. So each amount is cut into whole numbers that SQLite
adds exactly as 64-bit integers:

- ``e9``: the integer part and decimals 1-9 (units of 10^-9 of the lot's unit),
- ``e18``, ``e27``, ``e36``: decimals 10-18, 19-27 and 28-36 (each below 10^9).

An amount qualifies when it has at most :data:`INT_DIGITS` integer digits and 36 decimals:
the largest ``e9`` is then below 10^17, so a lot can hold about 92 such amounts of the largest
size before a sum could overflow (SQLite raises an error on integer overflow in SUM; it never
wraps). Quantities computed through a density (mL x mg/mL) have 28 significant digits, which
is why the finer columns exist. Any other text is counted in ``inexact`` and that lot is
summed from its records with Decimal; nothing is ever rounded.

total = e9 / 10^9 + e18 / 10^18 + e27 / 10^27 + e36 / 10^36, in the lot's unit.
"""

from __future__ import annotations

from decimal import Decimal

#: 10^9: one chunk's base.
NANO = 10 ** 9
#: The chunk columns of one total, coarsest first.
CHUNKS = ("e9", "e18", "e27", "e36")
#: Most integer digits of an amount summed in SQL (99,999,999 mg = about 100 kg, far above
#: any compounding lot; a larger amount is still exact, summed in Python).
INT_DIGITS = 8


def chunk_sql(col: str, signed: bool = False) -> tuple[list[str], str]:
    """([SQL for each chunk of ``col`` (an SQL expression) or 0], SQL: 1 when ``col`` cannot
    be cut exactly, else 0). ``signed``: a leading '-' makes every chunk negative (stock
    adjustments, m013's CHECK allows exactly that form)."""
    body = f"ltrim({col}, '-')" if signed else col
    sign = f"(CASE WHEN {col} GLOB '-*' THEN -1 ELSE 1 END) * " if signed else ""
    dot = f"instr({body}, '.')"
    ip = f"(CASE WHEN {dot} > 0 THEN substr({body}, 1, {dot} - 1) ELSE {body} END)"
    fp = f"(CASE WHEN {dot} > 0 THEN substr({body}, {dot} + 1) ELSE '' END)"
    exact = (f"(typeof({col}) = 'text' AND {body} NOT GLOB '*[^0-9.]*'"
             f" AND {body} GLOB '*[0-9]*' AND {body} NOT GLOB '*.*.*'"
             f" AND length({fp}) <= 36 AND length({ip}) <= {INT_DIGITS}"
             + (f" AND {col} NOT GLOB '--*'" if signed else "") + ")")
    padded = f"({fp} || '{'0' * 36}')"
    parts = [f"(CAST({ip} AS INTEGER) * {NANO} + CAST(substr({padded}, 1, 9) AS INTEGER))"]
    parts += [f"CAST(substr({padded}, {10 + 9 * k}, 9) AS INTEGER)" for k in range(3)]
    return ([f"(CASE WHEN {exact} THEN {sign}{p} ELSE 0 END)" for p in parts],
            f"(CASE WHEN {exact} THEN 0 ELSE 1 END)")


def total_sql(table: str, column: str, lot: str, signed: bool = False) -> tuple[list[str], str]:
    """SQL for the exact total of ``table.column`` over the rows of component lot ``lot`` (an
    SQL expression), one expression per chunk (:data:`CHUNKS`), and for how many of those rows
    are not in the chunks. The one definition every maintained stock total uses: a new
    movement kind adds its chunk columns to ``lot_stock_exact`` fed by this (in a new
    migration), and its term to :func:`compounding.store.inventory.lots`."""
    parts, inexact = chunk_sql(column, signed)
    cond = f"component_lot_id = {lot}"
    return ([f"(SELECT COALESCE(SUM({p}), 0) FROM {table} WHERE {cond})" for p in parts],
            f"(SELECT COALESCE(SUM({inexact}), 0) FROM {table} WHERE {cond})")


def scaled(e9: int, e18: int, e27: int, e36: int) -> int:
    """A total held in chunks as one whole number of 10^-36 of the unit (exact, any size)."""
    return ((e9 * NANO + e18) * NANO + e27) * NANO + e36


def placed(whole: int, decimals: int) -> Decimal:
    """The exact Decimal of ``whole`` units of 10^-``decimals``, trailing decimal zeros dropped
    (no rounding at any size: the digits are placed, not divided)."""
    sign = "-" if whole < 0 else ""
    digits = str(abs(whole)).rjust(decimals + 1, "0")
    text = digits[:-decimals] + "." + digits[-decimals:]
    return Decimal(sign + text.rstrip("0").rstrip("."))


def total(e9: int, e18: int, e27: int, e36: int) -> Decimal:
    """One total from its chunks, exactly."""
    if e18 or e27 or e36:
        return placed(scaled(e9, e18, e27, e36), 36)
    return placed(e9, 9)


# ---------------------------------------------------------------- m021: one normalised total

def _fmod(x: str) -> str:
    """SQL: ``x`` modulo 10^9 rounded toward minus infinity (0 .. 10^9 - 1 for any sign;
    SQLite's ``%`` keeps the dividend's sign)."""
    return f"((({x}) % {NANO} + {NANO}) % {NANO})"


def _fdiv(x: str) -> str:
    """SQL: ``x`` divided by 10^9 rounded toward minus infinity (exact: the remainder is
    taken off first)."""
    return f"((({x}) - {_fmod(x)}) / {NANO})"


def _carried(src: str, keep: str = "") -> str:
    """SQL selecting ``a9, a18, a27, a36`` (plus ``keep``) from ``src`` with carries taken
    from the finest chunk up: the same number, ``a18``, ``a27``, ``a36`` each in
    0 .. 10^9 - 1, ``a9`` of either sign."""
    k = f"{keep}, " if keep else ""
    t1 = f"SELECT {k}a9, a18, a27 + {_fdiv('a36')} AS a27, {_fmod('a36')} AS a36 FROM ({src})"
    t2 = f"SELECT {k}a9, a18 + {_fdiv('a27')} AS a18, {_fmod('a27')} AS a27, a36 FROM ({t1})"
    return f"SELECT {k}a9 + {_fdiv('a18')} AS a9, {_fmod('a18')} AS a18, a27, a36 FROM ({t2})"


def normal_sql(e9: str, e18: str, e27: str, e36: str) -> tuple[str, str]:
    """SQLite SQL for the sign (-1, 0 or 1) and the exact decimal text of the total
    ``e9 / 10^9 + e18 / 10^18 + e27 / 10^27 + e36 / 10^36`` (four SQL integer expressions of
    any sign and size below 2^63, as summed chunk columns are): the plain form
    :func:`compounding.units.plain` writes (``'0'``, ``'12.5'``, ``'-0.000000001'``; no
    exponent, no trailing decimal zeros). Integer arithmetic only (carries, then the digits
    placed with ``printf``), so nothing rounds. Used by migration m021 (``lot_on_hand``)."""
    src = f"SELECT {e9} AS a9, {e18} AS a18, {e27} AS a27, {e36} AS a36"
    signed = (f"SELECT (CASE WHEN a9 < 0 THEN -1 WHEN a9 > 0 OR a18 != 0 OR a27 != 0 "
              f"OR a36 != 0 THEN 1 ELSE 0 END) AS s, a9, a18, a27, a36 FROM ({_carried(src)})")
    # the magnitude: the carried digits times the sign, carried again (all digits >= 0)
    size = _carried(f"SELECT s, s * a9 AS a9, s * a18 AS a18, s * a27 AS a27, s * a36 AS a36 "
                    f"FROM ({signed})", "s")
    text = (f"CASE WHEN s = 0 THEN '0' ELSE (CASE WHEN s < 0 THEN '-' ELSE '' END) || "
            f"(a9 / {NANO}) || rtrim(rtrim('.' || printf('%09d%09d%09d%09d', a9 % {NANO}, "
            f"a18, a27, a36), '0'), '.') END")
    return f"(SELECT s FROM ({signed}))", f"(SELECT {text} FROM ({size}))"
