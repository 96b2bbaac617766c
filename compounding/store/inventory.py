"""Component lots and inventory: receipts, stock on hand, expiry, picking lots for a batch.

Quantity on hand is derived (receipts minus weighings plus stock adjustments), never a
number edited by hand, and exact: either summed with ``Decimal`` from the decimal text of
each record (one lot), or read from ``lot_on_hand`` (migration m021, issue 18), where
triggers keep every lot's totals as exact decimal text worked out with integers from
``lot_stock_exact`` (m019, :mod:`.exact_sums`), so a listing reads one row a lot on ten
years of records and does no arithmetic per lot. The REAL
``lot_stock`` totals (m005) only let the picker skip used-up lots.

Owns the tables ``component_lots`` and ``lot_receipts`` (and reads ``lot_stock`` and the
view ``stock_on_hand``); the weighings that consume stock belong to :mod:`.weighings`.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext

from ..dates import format_date
from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError
from .core import StoreCore, need_printable, need_text
from .lot_holds import current_hold, held_lot_ids
from .users import acting


#: Longest supplier lot number accepted (GS1 AI (10) allows 20; 40 is a conservative
#: allowance for suppliers outside GS1, not a published figure).
LOT_CHARS = 40
#: Longest manufacturer name (the same bound as the catalogue's trade items).
MANUFACTURER_CHARS = 120
#: Decimal precision for sums of stored amounts: at most 8 + 36 digits each (the longest a
#: density conversion writes is 28 significant digits), far below 120, so nothing rounds.
EXACT_PREC = 120


def to_unit(qty: u.Quantity, unit: str, density: u.Quantity | None, what: str) -> Decimal:
    """``qty`` expressed in ``unit`` (mg or mL); mass <-> volume only through a density
    (mg/mL). Raises :class:`InputError` naming ``what`` when a density is needed and None."""
    target = u.q("1", unit)
    if qty.dim == target.dim:
        return qty.to(unit).value
    if density is None:
        raise InputError(f"{what}: {u.fmt(qty)} cannot be converted to {unit} "
                         "(no density in the ingredient catalogue)")
    mg_per_ml = density.to("mg/mL").value
    if qty.dim == "volume":  # mL x mg/mL = mg
        return qty.to("mL").value * mg_per_ml
    return qty.to("mg").value / mg_per_ml  # mg / (mg/mL) = mL


def _dec(text) -> Decimal:
    return Decimal(str(text))


def receive_lot(store: StoreCore, ingredient: str, lot_number: str, expires: date,
                quantity: u.Quantity, by: str, potency_percent: Decimal = Decimal("100"),
                manufacturer: str | None = None, today: date | None = None) -> dict:
    """Record a receipt of a component lot (a new lot, or more of a known one).

    ``quantity`` is a mass or a volume; it is kept in mg or mL exactly. A lot already on
    record must match in expiry, potency, manufacturer and unit. An expired lot is refused.
    """
    need_text(ingredient, "ingredient")
    # What is printed on the container, typed or scanned: printable ASCII (GS1 AI (10)
    # batch/lot numbers are at most 20 characters of a subset of it, GS1 General
    # Specifications 3.4.1, figure 7.11-1; LOT_CHARS leaves room for non-GS1 suppliers,
    # conservatively).
    lot_number = need_printable(lot_number, "lot", max_chars=LOT_CHARS, ascii_only=True)
    by = need_text(by, "by").strip()
    quantity = u.parse(quantity, {u.MASS, u.VOLUME}, field="quantity")
    potency = _dec(potency_percent)
    if not Decimal("0") < potency <= Decimal("110"):
        raise InputError(f"potency: {u.plain(potency)}% must be above 0% and at most 110%")
    unit = "mg" if quantity.dim == "mass" else "mL"
    amount = quantity.to(unit).value
    today = today or store.today()
    if expires < today:
        raise RefusedError(f"lot {lot_number} of {ingredient} expired on "
                           f"{format_date(expires)}; it cannot be received into stock")
    manufacturer = (need_printable(manufacturer, "manufacturer", max_chars=MANUFACTURER_CHARS)
                    if manufacturer and manufacturer.strip() else None)
    by = acting(store, by)  # issue 7: an active user (authenticated in the CLI)
    stamp = store.stamp()
    with store.write():
        existing = store.one("SELECT * FROM component_lots WHERE ingredient = ? AND "
                             "lot_number = ?", [ingredient, lot_number])
        records = []
        if existing is None:
            lot_id = store.insert("component_lots", {
                "ingredient": ingredient, "lot_number": lot_number,
                "manufacturer": manufacturer, "expires": expires.isoformat(),
                "potency_percent": u.plain(potency), "unit": unit, "created_by": by,
                "created_at": stamp, "site": store.site})
            records.append(store.ref("component_lots", lot_id))
            action = "inventory.receive"
        elif existing["site"] != store.site:
            # issue 20: one record per manufacturer lot in the group (UNIQUE ingredient, lot
            # number), and its stock belongs to the site that first received it
            raise RefusedError(
                f"lot {lot_number} of {ingredient} is stock of site {existing['site']}; this "
                f"site ({store.site}) cannot receive into it (the same manufacturer lot at "
                "two sites is not supported yet: ask the other site to transfer it)")
        else:
            lot_id = existing["id"]
            diffs = []
            if existing["expires"] != expires.isoformat():
                diffs.append(f"expiry {format_date(existing['expires'])}")
            if _dec(existing["potency_percent"]) != potency:
                diffs.append(f"potency {existing['potency_percent']}%")
            if existing["unit"] != unit:
                diffs.append(f"unit {existing['unit']}")
            if manufacturer is not None and existing["manufacturer"] not in (None, manufacturer):
                diffs.append(f"manufacturer {existing['manufacturer']}")
            if diffs:
                raise RefusedError(f"lot {lot_number} of {ingredient} is already on record "
                                   f"with {', '.join(diffs)}; a further receipt must match")
            action = "inventory.receive-more"
        rid = store.insert("lot_receipts", {
            "component_lot_id": lot_id, "quantity": u.plain(amount),
            "received_as": u.fmt(quantity), "received_by": by, "received_at": stamp})
        records.append(store.ref("lot_receipts", rid))
        store.audit(action, by, {"ingredient": ingredient, "lot_number": lot_number,
                                "quantity": quantity.as_json(),
                                "expires": expires.isoformat(),
                                "potency_percent": u.plain(potency),
                                "manufacturer": manufacturer}, records=records)
    return lot(store, lot_id)


_LOT_SQL = """
SELECT s.component_lot_id AS id, s.ingredient, s.lot_number, s.manufacturer, s.expires,
       l.potency_percent, s.unit, l.created_by AS received_by, l.created_at AS received_at,
       l.site
FROM stock_on_hand s JOIN component_lots l ON l.id = s.component_lot_id"""


#: What planned batches not yet weighed from lot ``?`` reserve of it (one amount a batch).
#: The planned batches first (a short list off batches_status_lot), and each one's own
#: weighings (weighings_batch: the unary + keeps SQLite off the lot's index, which made it
#: scan every weighing ever made from the lot for each batch that used it: 0.40 -> 0.04 ms
#: for a lot of 140 weighings, and growing with the lot's use).
_RESERVED_SQL = (
    "SELECT bc.planned_quantity FROM batch_components bc WHERE bc.component_lot_id = ?"
    " AND bc.lot_id IN (SELECT b.lot_id FROM batches b WHERE b.status = 'planned')"
    " AND NOT EXISTS (SELECT 1 FROM weighings w WHERE w.lot_id = bc.lot_id"
    " AND +w.component_lot_id = bc.component_lot_id)")


def _lot_out(store: StoreCore, row: dict, today: date) -> dict:
    """One lot's stock summed with Decimal from its records (exact: no rounding at any
    length; density-converted weighings carry 28 significant digits, and Decimal's default
    context would round their sum)."""
    with localcontext() as ctx:
        ctx.prec = EXACT_PREC
        return _lot_sums(store, row, today)


def _lot_sums(store: StoreCore, row: dict, today: date) -> dict:
    lid = row["id"]
    received = sum((_dec(r) for r in store.column(
        "SELECT quantity FROM lot_receipts WHERE component_lot_id = ?", [lid])), Decimal(0))
    consumed = sum((_dec(r) for r in store.column(
        "SELECT consumed_quantity FROM weighings WHERE component_lot_id = ?", [lid])),
        Decimal(0))
    reserved = sum((_dec(r) for r in store.column(_RESERVED_SQL, [lid])), Decimal(0))
    adjusted = sum((_dec(r) for r in store.column(
        "SELECT quantity FROM stock_adjustments WHERE component_lot_id = ?", [lid])),
        Decimal(0))
    return _lot_dict(row, today, received, consumed, reserved, adjusted,
                     current_hold(store, lid) is not None)


def _lot_dict(row: dict, today: date, received: Decimal, consumed: Decimal,
              reserved: Decimal, adjusted: Decimal = Decimal(0), on_hold: bool = False) -> dict:
    expires = date.fromisoformat(row["expires"])
    on_hand = received - consumed + adjusted
    return {**row, "potency_percent": _dec(row["potency_percent"]),
            "received": received, "consumed": consumed, "adjusted": adjusted,
            "on_hand": on_hand, "on_hold": on_hold,
            "reserved": reserved, "available": on_hand - reserved,
            "days_to_expiry": (expires - today).days, "expired": expires < today}


def candidate_lots(store: StoreCore, ingredient: str, day: date) -> "LazyLots":
    """Unexpired lots of ``ingredient`` at the store's site (issue 20: a batch draws on its
    own site's stock) that may have stock and are not on hold (issue 19),
    earliest expiry first (FEFO), for picking. The SQL filter uses the ``lot_stock`` totals only to skip empty lots; each
    lot's exact Decimal stock is computed when the picker looks at it, so a batch on a
    ten-year database reads a few lots, not every lot ever received."""
    mine = "" if store.only_site("component_lots", store.site) else " AND l.site || '' = ?"
    rows = store.rows(
        _LOT_SQL + " LEFT JOIN lot_stock ls ON ls.component_lot_id = l.id"
        " WHERE l.ingredient = ? AND l.expires >= ?" + mine +
        " AND COALESCE(ls.received, 0) - COALESCE(ls.consumed, 0) > 0.000000001"
        " AND COALESCE((SELECT h.action FROM lot_holds h WHERE h.component_lot_id = l.id"
        " ORDER BY h.id DESC LIMIT 1), 'release') != 'hold'"
        " ORDER BY l.expires, l.lot_number",
        [ingredient, day.isoformat()] + ([store.site] if mine else []))
    return LazyLots(store, rows, day)


def lot(store: StoreCore, component_lot_id: int, today: date | None = None) -> dict:
    """One component lot with its exact stock (Decimal, in the lot's unit): received,
    consumed, on hand, reserved by planned batches, available, days to expiry.

    The totals are read from ``lot_on_hand`` (m021, kept by triggers in the same
    transaction as every receipt, weighing and adjustment), so the cost does not grow with
    the lot's records: every weighing checks its lot's stock, and a lot of filler is drawn
    on by thousands of weighings over the years (summing them took 0.9 ms for 140
    weighings, and grew with each). A lot SQL cannot add exactly, or one with no totals
    row, is summed with Decimal from its records as before (:func:`_lot_sums`)."""
    today = today or store.today()
    with store.database_errors():
        cur = store.db.execute(_ONE_LOT_SQL, [component_lot_id])
        cols = [c[0] for c in cur.description][:_ROW_COLS]
        values = cur.fetchone()
        cur.close()
    if values is None:
        raise NotFoundError(f"no component lot with id {component_lot_id}")
    row = dict(zip(cols, values[:_ROW_COLS]))
    totals = values[_ROW_COLS:]
    if totals[-1] is None:
        return _lot_out(store, row, today)
    with localcontext() as ctx:
        ctx.prec = EXACT_PREC
        reserved = sum((_dec(r) for r in store.column(_RESERVED_SQL, [row["id"]])), Decimal(0))
    held = {row["id"]} if current_hold(store, row["id"]) is not None else set()
    return _from_totals(store, row, totals, today,
                        {row["id"]: reserved} if reserved else {}, held)


def expiry_cutoff(today: date, days) -> date:
    """The last expiry date "expiring within ``days`` days" of ``today`` includes: ``today +
    days``, or the last representable date when that is past year 9999 (every lot).

    ``days`` must be a whole number (an ``int``, not a bool, float or text), 0 or more;
    else :class:`InputError` naming ``expiring-within``."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InputError(f"expiring-within: give a whole number of days, 0 or more, not "
                         f"{days!r}")
    try:
        return today + timedelta(days=days)
    except OverflowError:
        return date.max


#: A lot with its maintained exact totals (migration m021's ``lot_on_hand``, kept from
#: m019's ``lot_stock_exact`` by triggers): decimal text, NULL when the lot has an amount
#: SQL cannot add (then summed with Decimal from its records).
_TOTALS = ("received", "consumed", "adjusted", "on_hand")
_EXACT_SQL = f"""
SELECT l.id, l.ingredient, l.lot_number, l.manufacturer, l.expires, l.potency_percent, l.unit,
       l.created_by AS received_by, l.created_at AS received_at, l.site,
       {', '.join(f'h.{c}' for c in _TOTALS)}
FROM component_lots l JOIN lot_on_hand h ON h.component_lot_id = l.id"""
_ROW_COLS = 10
#: One lot with its totals; a lot with no ``lot_on_hand`` row (none is expected: its
#: triggers add one with the lot's first receipt) is summed from its records.
_ONE_LOT_SQL = (_EXACT_SQL.replace("JOIN lot_on_hand", "LEFT JOIN lot_on_hand")
                + " WHERE l.id = ?")
#: Lots that may have stock: exactly those with stock, plus the rare lots SQL cannot add
#: (decided in Python).
_MAY_HAVE_STOCK = "(h.on_hand_sign > 0 OR h.on_hand_sign IS NULL)"


def _reserved(store: StoreCore) -> dict[int, Decimal]:
    """Stock reserved by planned batches not yet weighed from the lot, per lot (exact)."""
    out: dict[int, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = EXACT_PREC
        for r in store.rows(
                "SELECT bc.component_lot_id AS lid, bc.planned_quantity AS q FROM batches b"
                " JOIN batch_components bc ON bc.lot_id = b.lot_id WHERE b.status = 'planned'"
                " AND NOT EXISTS (SELECT 1 FROM weighings w WHERE w.lot_id = bc.lot_id"
                " AND w.component_lot_id = bc.component_lot_id)"):
            out[r["lid"]] = out.get(r["lid"], Decimal(0)) + _dec(r["q"])
    return out


def _where(store: StoreCore, today: date, ingredient, expiring_within, lot_number,
           include_empty, site) -> tuple[str, list]:
    where, params = [], []
    if ingredient is not None:
        where.append("l.ingredient = ?")
        params.append(ingredient)
    if lot_number is not None:
        where.append("l.lot_number = ?")
        params.append(lot_number)
    if site is not None and not store.only_site("component_lots", site):
        where.append("l.site || '' = ?")  # off the site index: the other filters' plan
        params.append(site)
    if expiring_within is not None:
        where.append("l.expires <= ?")
        params.append(expiry_cutoff(today, expiring_within).isoformat())
    if not include_empty:
        where.append(_MAY_HAVE_STOCK)
    return (" WHERE " + " AND ".join(where) if where else ""), params


#: The largest listing limit taken (more than any store holds; SQLite's LIMIT and the
#: cursor's fetch size are C integers, so a 300-digit limit must be refused, not crash).
MAX_LIMIT = 1_000_000_000


def _check_limit(limit) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit: {str(limit)[:40]!r} must be a whole number from 1 to "
                         f"{MAX_LIMIT:,}", field="limit")


def lots(store: StoreCore, ingredient: str | None = None, expiring_within: int | None = None,
         today: date | None = None, include_empty: bool = True,
         lot_number: str | None = None, limit: int | None = None,
         site: str | None = None) -> list[dict]:
    """Component lots with their stock, earliest expiry first (then ingredient, lot number);
    each with the ``site`` that holds it; ``site=`` only that site's (None: every site,
    issue 20).

    Each lot is a dict of its record plus ``received``, ``consumed``, ``adjusted``,
    ``on_hand``, ``reserved`` (by planned batches not yet weighed from it) and ``available``
    (Decimal, in the lot's unit, mg or mL, exact), ``on_hold``, ``days_to_expiry`` and
    ``expired`` (against ``today``, default the store's day).

    ``expiring_within=N``: only lots whose expiry is at most N days after ``today`` (expired
    lots included). ``include_empty=False`` leaves out lots with nothing on hand (exactly:
    a lot with 0.000000001 mg is listed). ``limit``: at most that many lots (the
    earliest-expiring), None for all; a bad limit is an :class:`InputError` naming ``limit``.

    The totals come from ``lot_on_hand`` (migration m021: one row a lot, kept exact by
    triggers from receipts, weighings and adjustments through m019's ``lot_stock_exact``),
    so the cost does not grow with the records on file (issue 18); a lot with an amount SQL
    cannot add exactly is summed with Decimal from its records.
    """
    today = today or store.today()
    where, params = _where(store, today, ingredient, expiring_within, lot_number,
                           include_empty, site)
    if limit is not None:
        _check_limit(limit)
    sql = _EXACT_SQL + where + " ORDER BY l.expires, l.ingredient, l.lot_number"
    reserved = _reserved(store)
    held = held_lot_ids(store)
    out: list[dict] = []
    with store.database_errors():  # a damaged file: one StoreError line
        cur = store.db.execute(sql, params)
        cols = [c[0] for c in cur.description][:_ROW_COLS]
        while limit is None or len(out) < limit:
            batch = cur.fetchmany(min(limit or 500, 500))
            if not batch:
                break
            for values in batch:
                r = _from_totals(store, dict(zip(cols, values[:_ROW_COLS])),
                                 values[_ROW_COLS:], today, reserved, held)
                if include_empty or r["on_hand"] > 0:
                    out.append(r)
                    if limit is not None and len(out) == limit:
                        break
        cur.close()
    return out


def _from_totals(store: StoreCore, row: dict, totals, today: date, reserved: dict,
                 held: set) -> dict:
    """A lot's exact stock from its maintained totals (or its records, when SQL could not
    add them): no arithmetic but ``available`` (on hand less reserved, exact)."""
    if totals[-1] is None:
        return _lot_out(store, row, today)  # summed with Decimal from the records
    received, consumed, adjusted, on_hand = (Decimal(t) for t in totals)
    res = reserved.get(row["id"])
    if res is None:
        res, available = Decimal(0), on_hand
    else:
        with localcontext() as ctx:
            ctx.prec = EXACT_PREC
            available = on_hand - res
    expires = date.fromisoformat(row["expires"])
    row.update(potency_percent=_dec(row["potency_percent"]), received=received,
               consumed=consumed, adjusted=adjusted, on_hand=on_hand,
               on_hold=row["id"] in held, reserved=res, available=available,
               days_to_expiry=(expires - today).days, expired=expires < today)
    return row


def count_lots(store: StoreCore, ingredient: str | None = None,
               expiring_within: int | None = None, today: date | None = None,
               include_empty: bool = True, site: str | None = None) -> int:
    """How many lots :func:`lots` would list without a limit (exact: SQL counts by the
    maintained sign of on hand; a lot SQL could not add is summed with Decimal)."""
    today = today or store.today()
    # the lot filters alone (component_lots' indexes); lot_on_hand joined only for the sign
    where, params = _where(store, today, ingredient, expiring_within, None, True, site)
    with store.database_errors():
        if include_empty:
            return store.db.execute("SELECT COUNT(*) FROM component_lots l" + where,
                                    params).fetchone()[0]
        if where:
            base = ("FROM component_lots l JOIN lot_on_hand h ON h.component_lot_id = l.id"
                    + where + " AND ")
        else:  # every lot: lot_on_hand's sign index alone
            base = "FROM lot_on_hand h WHERE "
        count = store.db.execute(f"SELECT COUNT(*) {base}h.on_hand_sign > 0",
                                 params).fetchone()[0]
        rare = [r[0] for r in store.db.execute(
            f"SELECT h.component_lot_id {base}h.on_hand_sign IS NULL", params).fetchall()]
    return count + sum(lot(store, lid, today)["on_hand"] > 0 for lid in rare)


def find_lot(store: StoreCore, ingredient: str, lot_number: str) -> dict:
    """The lot ``lot_number`` of ``ingredient``; a lot of that number that belongs to
    another ingredient is refused by name."""
    rows = lots(store, lot_number=lot_number)
    for r in rows:
        if r["ingredient"] == ingredient:
            return r
    if rows:
        others = ", ".join(sorted(r["ingredient"] for r in rows))
        raise RefusedError(f"lot {lot_number} is {others}, not {ingredient}")
    raise NotFoundError(f"no lot {lot_number} of {ingredient} on record "
                        f"(receive it first: compounding inventory receive)")


class LazyLots:
    """A sequence of lot rows whose exact stock (``lot``) is computed on access."""

    def __init__(self, store: StoreCore, rows: list[dict], today: date):
        self._store, self._rows, self._today = store, rows, today
        self._done: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> dict:
        i = range(len(self._rows))[i]
        if i not in self._done:
            self._done[i] = _lot_out(self._store, self._rows[i], self._today)
        return self._done[i]

    def __iter__(self):
        return (self[i] for i in range(len(self._rows)))
