"""Ten years of a busy LDN pharmacy in one database file, for bench_store.py.

Default size (issue 8): 100,000 batches, 1,000,000 weighings, 1,000,000 label prints, 20,000
component lots, with the receipts, lot IDs, planned components, plan steps, verifications
(signatures and every checklist result), releases, rejections, holds and a hash-chained
audit entry for every write, as the store itself would have written them.

How it stays faithful to the schema without taking days:
- users, and the approval of the shipped formulas and label templates, are made through the
  real store API (``users.add_user``, ``approvals.submit``, ``approve``), with the scrypt cost lowered
  the documented way (``users.SCRYPT_COST``, as tests/conftest.py does);
- each batch's record is built from a real plan (``make_plan``, ``render_plan_text``), a real
  BUD (``compute_bud``) and the store's own JSON/digest helpers (``canonical``, ``sha256``,
  ``chain_hash`` under the audit key), then written with ``executemany`` in one transaction per 90 days;
- **every trigger and CHECK of the production schema stays on**: a batch is inserted as
  ``planned``, weighed (the weighing trigger checks step, ingredient, lot expiry and
  re-weighs), moved to ``compounded``, verified (verification trigger), signed and released
  (release trigger), and a hold is a signed quarantine; the audit chain trigger checks every
  entry's id and prev_hash (two index lookups a row, so it does not need switching off);
- only connection settings differ from a command's: ``synchronous=OFF`` and a large cache
  while generating (the file is a benchmark fixture, not a record).

Known differences from a real ten-year history: ``batch_status_history.changed_at`` is
written by a trigger with SQLite's clock, so it holds the generation time, not the batch's
day; PDF hashes are of a stand-in, not of a rendered label. The shipped formulas' plans have
2 to 9 steps (6.7 on average for the mix below), so the weighings beyond the plan steps are
re-weighs (with a reason), added to reach the issue's table size.

A small database made the same way passes ``Store.verify()`` (every audit hash, every record
digest): ``bench/bench_store.py --scale 0.002 --verify``.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import sqlite3
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from compounding import units as u  # noqa: E402
from compounding.bud import compute_bud  # noqa: E402
from compounding.formulas import Registry  # noqa: E402
from compounding.labeling.templates import load_templates  # noqa: E402
from compounding.plan import Order, make_plan, render_plan_text  # noqa: E402
from compounding.settings import Settings  # noqa: E402
from compounding.quickstart import submit_and_approve_all  # noqa: E402
from compounding.store import Store, lotid, users  # noqa: E402
from compounding.store.batch_create import line_need, order_json  # noqa: E402
from compounding.store.batches import bud_json  # noqa: E402
from compounding.store.migrations import GENESIS_HASH  # noqa: E402
from compounding.dates import format_date  # noqa: E402
from compounding.store.core import canonical, chain_hash, sha256  # noqa: E402
from compounding.store.inventory import to_unit  # noqa: E402

#: Bump when the generated content changes (part of the cache key).
GEN_VERSION = 1

TARGETS = {"batches": 100_000, "weighings": 1_000_000, "prints": 1_000_000, "lots": 20_000}
YEARS = 10
PASS = "bench passphrase 1"
#: Low scrypt cost for the benchmark's users, set the documented way (see tests/conftest.py).
FAST_SCRYPT = (2 ** 8, 8, 1)

PHARMACISTS = {"pharm": "Patricia Harmon", "phil": "Philip Osei", "rosa": "Rosa Lindqvist",
               "omar": "Omar Haddad"}
TECHNICIANS = {"ana": "Ana Duarte", "ben": "Ben Carver", "cora": "Cora Mills",
               "dev": "Dev Patel", "eli": "Eli Novak", "fay": "Fay Okafor", "gus": "Gus Ramos",
               "hana": "Hana Sato"}

#: (formula, order as typed, weight in the mix)
ORDERS = [
    ("ldn-capsules", dict(quantity="30", strength="1.5 mg"), 7),
    ("ldn-capsules", dict(quantity="60", strength="0.5 mg"), 6),
    ("ldn-capsules", dict(quantity="90", strength="4.5 mg"), 6),
    ("ldn-capsules", dict(quantity="90", strength="3 mg", filler="lactose-monohydrate"), 2),
    ("ldn-capsules", dict(quantity="100", strength="1.5 mg"), 3),
    ("ldn-capsules", dict(quantity="100", strength="0.1 mcg"), 5),
    ("ldn-capsules", dict(quantity="60", strength="1 mcg", confirm_strength=True), 4),
    ("ldn-capsules", dict(quantity="60", strength="10 mcg", filler="sucrose"), 2),
    ("ldn-oral-liquid", dict(quantity="100 mL"), 14),
    ("ldn-oral-liquid", dict(quantity="30 mL"), 8),
    ("ldn-oral-liquid", dict(quantity="240 mL"), 3),
    ("ldn-sublingual-drops", dict(quantity="30 mL", strength="1 mg/mL"), 14),
    ("ldn-sublingual-drops", dict(quantity="15 mL", strength="0.5 mg/mL"), 8),
    ("ldn-cream", dict(quantity="60 g", strength="1 mg/g"), 5),
    ("ldn-cream", dict(quantity="30 g", strength="0.5 mg/g"), 3),
]
NALTREXONE = "naltrexone-hcl"
POTENCIES = (("99.2", 2), ("99.6", 3), ("100", 4), ("100.4", 1))
LIQUIDS = {"glycerol", "purified-water"}
LOT_PREFIX = {"naltrexone-hcl": "NX", "microcrystalline-cellulose": "MC",
              "lactose-monohydrate": "LM", "sucrose": "SU", "ascorbic-acid": "AA",
              "sodium-benzoate": "SB", "glycerol": "GL", "purified-water": "PW",
              "cream-base-preserved": "CB"}
MANUFACTURERS = {"naltrexone-hcl": ("Medisca", "PCCA", "Fagron"),
                 "microcrystalline-cellulose": ("FMC", "JRS Pharma"),
                 "lactose-monohydrate": ("DFE Pharma", "Meggle"),
                 "sucrose": ("Spectrum",), "ascorbic-acid": ("DSM", "Spectrum"),
                 "sodium-benzoate": ("Spectrum",), "glycerol": ("Medisca", "Spectrum"),
                 "purified-water": ("in-house",), "cream-base-preserved": ("PCCA", "Fagron")}
FIRST = ("Mary", "James", "Linda", "Robert", "Susan", "Michael", "Karen", "David", "Nancy",
         "Daniel", "Lisa", "Paul", "Emma", "Noah", "Olivia", "Liam", "Ava", "Lucas", "Mia",
         "Ethan", "Zoe", "Omar", "Priya", "Chen", "Fatima", "Jose", "Aiko", "Ivan", "Nora")
LAST = ("Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Taylor",
        "Anderson", "Thomas", "Martin", "Lee", "Clark", "Lewis", "Walker", "Young", "King",
        "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Rivera")
PRESCRIBERS = tuple(f"Dr {f[0]}. {s}" for f, s in zip(FIRST, reversed(LAST)))
REWEIGH_REASONS = ("spilled on transfer; weighed again", "balance drifted; re-tared",
                   "wrong weigh boat; weighed again", "second check weighing")
HOLD_REASONS = ("patient complaint: taste; investigating", "supplier notice on component lot",
                "label mix-up reported; on hold pending review")
REJECT_REASONS = ("capsule weight variation out of limits", "blend not uniform on inspection",
                  "container crack found at packaging")


def stamp(day: date, second: float) -> str:
    if second >= 86399:  # a very busy day: squeeze the rest into its last second
        second = 86399 + min(0.999, (second - 86399) / 10 ** 5)
    s = int(second)

    us = int((second - s) * 1_000_000)
    return f"{day.isoformat()}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{us:06d}Z"


# ---------------------------------------------------------------- setup through the API

def setup(path: Path, start: date) -> None:
    """Users, submitted and approved formulas and templates, through the real store API."""
    users.SCRYPT_COST = FAST_SCRYPT
    t0 = datetime.combine(start - timedelta(days=60), datetime.min.time(), timezone.utc)
    ticks = iter(range(10 ** 9))
    store = Store.open(path, clock=lambda: t0 + timedelta(seconds=next(ticks) * 7))
    try:
        for name, full in {**PHARMACISTS, **TECHNICIANS}.items():
            role = "pharmacist" if name in PHARMACISTS else "technician"
            first = name == "pharm"
            users.add_user(store, name, role, PASS, full_name=full,
                             by=None if first else "pharm", by_passphrase=None if first else PASS)
        submit_and_approve_all(store, Registry.load(ROOT / "formulas"),
                               load_templates(ROOT / "templates"), author="phil",
                               approver="pharm", passphrase=PASS)
    finally:
        store.close()


# ---------------------------------------------------------------- prototypes (real plans)

class Proto:
    """Everything about a batch that follows from the order and the active lot's potency."""

    def __init__(self, reg: Registry, settings: Settings, fid: str, kw: dict, potency: str):
        f = reg.get(fid)
        # the mix holds 1 mcg and 0.1 mcg capsules on purpose: confirmed, as a pharmacist
        # confirms an ultra-low strength that looks like the usual mg one (plan/core.py)
        order = Order.from_text(f, **{**kw, "confirm_strength": True})
        plan = make_plan(f, reg.catalogue, settings,
                         order.model_copy(update={"potency_percent": Decimal(potency)}))
        self.formula, self.order, self.plan = f, order, plan
        self.fid, self.sha = fid, reg.hashes[fid]
        self.storage = f.storage.conditions[0]
        self.filler = order.filler
        self.ingredients = [line.id for line in plan.ingredients]
        ids = {f.active.ingredient, f.active.strength_basis, *self.ingredients}
        cat = {i: reg.catalogue.ingredients[i].model_dump(mode="json", exclude_none=True)
               for i in sorted(ids) if i in reg.catalogue.ingredients}
        self.needs = {i: line_need(plan, i, lot_unit(i), reg.catalogue)
                      for i in self.ingredients}
        self.row = {
            "formula_id": fid, "formula_version": f.version, "formula_sha256": self.sha,
            "formula_snapshot": canonical(f.spec_json()), "catalogue_snapshot": canonical(cat),
            "dosage_form": f.dosage_form,
            "strength": u.fmt(plan.strength) if plan.strength is not None
            else f.strength.describe(),
            "quantity": u.fmt(plan.quantity), "units_made": u.fmt(plan.units_to_make),
            "order_json": canonical(order_json(order)), "plan_json": canonical(plan.as_json()),
            "plan_text": render_plan_text(plan), "storage": self.storage}
        self.order_dict = order_json(order)
        self.tolerance = f.weighing_tolerance.value
        self.steps = []  # (step, what, ingredient, quantity text, unit, density)
        for w in plan.weighings:
            entry = reg.catalogue.ingredients.get(w.ingredient) if w.ingredient else None
            self.steps.append((w.step, w.what, w.ingredient, u.plain(w.amount.value),
                               w.amount.unit, entry.density if entry is not None else None))
        self.units = int(Decimal(u.plain(plan.units_to_make.value)))


def lot_unit(ingredient: str) -> str:
    return "mL" if ingredient in LIQUIDS else "mg"


# ---------------------------------------------------------------- the generator

class Generator:
    def __init__(self, path: Path, scale: float = 1.0, seed: int = 8, end: date | None = None,
                 progress=print):
        self.path, self.scale, self.progress = Path(path), scale, progress
        self.rng = random.Random(seed)
        self.end = end or date.today()
        self.start = self.end - timedelta(days=int(365.25 * YEARS))
        self.n = {k: max(1, int(v * scale)) for k, v in TARGETS.items()}
        self.reg = Registry.load(ROOT / "formulas")
        self.settings = Settings()
        self.templates = load_templates(ROOT / "templates")
        self.counts: dict[str, int] = {}

    # ------------------------------------------------------------ phase A: the history

    def plan_history(self):
        rng = self.rng
        protos = {}
        weights = [w for *_, w in ORDERS]
        pot_values = [p for p, _ in POTENCIES]
        pot_weights = [w for _, w in POTENCIES]
        days = (self.end - self.start).days
        nb = self.n["batches"]
        # batch days: uniform over ten years, weekdays busier, Sundays closed
        batch_days = []
        while len(batch_days) < nb:
            d = self.start + timedelta(days=rng.randrange(days))
            wd = d.weekday()
            if wd == 6 or (wd == 5 and rng.random() < 0.5):
                continue
            batch_days.append(d)
        batch_days.sort()
        order_idx = rng.choices(range(len(ORDERS)), weights, k=nb)
        # usage per ingredient -> number of lots of each (at least 3)
        probe = {i: Proto(self.reg, self.settings, fid, kw, "100")
                 for i, (fid, kw, _) in enumerate(ORDERS)}
        usage: dict[str, int] = {}
        for i in order_idx:
            for ing in probe[i].ingredients:
                usage[ing] = usage.get(ing, 0) + 1
        total = sum(usage.values())
        nlots = {ing: max(3, round(self.n["lots"] * c / total)) for ing, c in usage.items()}
        diff = self.n["lots"] - sum(nlots.values())
        nlots[NALTREXONE] += diff
        lots = []  # dicts, in receive order per ingredient
        by_ing: dict[str, list[dict]] = {}
        span = days + 40
        for ing, k in nlots.items():
            mine = []
            for j in range(k):
                recv = self.start - timedelta(days=40) + timedelta(days=int(j * span / k))
                shelf = 365 if ing == "purified-water" else rng.randint(540, 1095)
                shelf = max(shelf, int(span / k) + 60)  # the next lot arrives before expiry
                lot = {"ingredient": ing, "received": recv,
                       "expires": recv + timedelta(days=shelf),
                       "lot_number": f"{LOT_PREFIX[ing]}{recv:%y%m}{j % 1000:03d}"
                                     f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}",
                       "potency": rng.choices(pot_values, pot_weights)[0]
                       if ing == NALTREXONE else "100",
                       "manufacturer": rng.choice(MANUFACTURERS[ing]),
                       "unit": lot_unit(ing), "consumed": Decimal(0)}
                mine.append(lot)
            by_ing[ing] = mine
            lots += mine
        recv_days = {ing: [x["received"] for x in v] for ing, v in by_ing.items()}

        def pick(ing, day):
            k = bisect.bisect_right(recv_days[ing], day) - 1
            k = max(k, 0)
            if k > 0 and rng.random() < 0.25 and by_ing[ing][k - 1]["expires"] > day:
                k -= 1  # an older lot still open on the shelf (earliest expiry first)
            return by_ing[ing][k]

        batches = []
        open_from = self.end - timedelta(days=2)
        for d, oi in zip(batch_days, order_idx):
            fid, kw, _ = ORDERS[oi]
            chosen = {}
            for ing in probe[oi].ingredients:
                chosen[ing] = pick(ing, d)
            pot = chosen[NALTREXONE]["potency"]
            key = (oi, pot)
            if key not in protos:
                protos[key] = Proto(self.reg, self.settings, fid, kw, pot)
            proto = protos[key]
            r = rng.random()
            if d >= open_from:
                outcome = "planned" if r < 0.3 else "compounded" if r < 0.6 else "released"
            else:
                outcome = ("rejected" if r < 0.015 else "quarantine" if r < 0.025
                           else "released")
            batches.append({"day": d, "proto": proto, "lots": chosen, "outcome": outcome,
                            "tech": rng.choice(list(TECHNICIANS)),
                            "pharm": rng.choice(list(PHARMACISTS)), "reweigh": []})
        # weighings: every plan step (a planned batch: some of them), then re-weighs
        steps_total = 0
        for b in batches:
            n = len(b["proto"].steps)
            b["weigh_upto"] = n if b["outcome"] != "planned" else rng.randrange(n)
            steps_total += b["weigh_upto"]
        extra = max(0, self.n["weighings"] - steps_total)
        eligible = [b for b in batches if b["weigh_upto"] > 0]
        for _ in range(extra):
            b = rng.choice(eligible)
            b["reweigh"].append(rng.randrange(b["weigh_upto"]) + 1)
        self.counts["plan_steps_weighed"] = steps_total
        self.counts["reweighs"] = extra
        for b in batches:
            b["weighings"] = self._weighings(b)
            for w in b["weighings"]:
                if w["consumed"] is not None:
                    b["lots"][w["ingredient"]]["consumed"] += w["consumed"]
        # label prints: a batch label for every released batch (some reprinted), the rest
        # dispensing labels spread over the batches by size, dispensed over the next weeks
        printable = [b for b in batches if b["outcome"] in ("released", "quarantine")]
        for b in printable:
            b["batch_prints"] = 2 if rng.random() < 0.05 else 1
        rest = self.n["prints"] - sum(b["batch_prints"] for b in printable)
        released = [b for b in printable if b["outcome"] == "released"]
        weights = [max(1, b["proto"].units // 30) + rng.random() * 4 for b in released]
        wsum = sum(weights)
        given = 0
        for b, w in zip(released, weights):
            b["dispensings"] = int(rest * w / wsum)
            given += b["dispensings"]
        for b in rng.sample(released, rest - given):
            b["dispensings"] += 1
        for b in batches:
            b.setdefault("dispensings", 0)
            b.setdefault("batch_prints", 0)
        return batches, lots

    def _weighings(self, b) -> list[dict]:
        rng, proto = self.rng, b["proto"]
        out = []
        steps = proto.steps[:b["weigh_upto"]]
        seq = [(s, None) for s in steps]
        for st in sorted(b["reweigh"]):
            seq.append((proto.steps[st - 1], rng.choice(REWEIGH_REASONS)))
        for (step, what, ing, qty, unit, density), reweigh in seq:
            planned = Decimal(qty)
            actual = planned
            if ing is not None and rng.random() < 0.3 and planned >= 10:
                dev = Decimal(rng.randint(-150, 150)) / 10000  # within +-1.5%
                actual = (planned * (1 + dev)).quantize(Decimal("0.1") if unit == "mg"
                                                        else Decimal("0.01"))
                if actual <= 0:
                    actual = planned
            deviation = Decimal(0) if planned == 0 else (actual - planned) / planned * 100
            consumed = None
            lot = None
            if ing is not None:
                lot = b["lots"][ing]
                consumed = to_unit(u.q(actual, unit), lot["unit"], density, ing)
            out.append({"step": step, "what": what, "ingredient": ing, "lot": lot,
                        "planned": qty, "unit": unit, "quantity": u.plain(actual),
                        "consumed": consumed, "dev": u.plain(round(deviation, 2)),
                        "reweigh": reweigh})
        return out

    # ------------------------------------------------------------ phase B: writing

    def run(self) -> dict:
        t0 = time.perf_counter()
        setup(self.path, self.start)
        t_setup = time.perf_counter() - t0
        batches, lots = self.plan_history()
        t_plan = time.perf_counter() - t0 - t_setup
        self.progress(f"  planned the history in {t_plan:.1f} s (setup {t_setup:.1f} s); writing")
        conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1000000")
        self.conn = conn
        last = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        self.audit_id, self.prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
        # the chain is keyed since issue 12 (m018): the setup's API writes keyed it, so the
        # entries written here are HMAC-SHA256 under the same key file ($COMPOUNDING_AUDIT_KEY
        # or the user's config folder), as the store writes them
        with Store.open(self.path) as st:
            self.key = st.audit_key()[1] if st.key_segments() else None
        self.ids = {t: conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {t}").fetchone()[0]
                    for t in ("component_lots", "lot_receipts", "weighings", "label_prints",
                              "signatures", "verifications")}
        self.cols = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
                     for t in ("component_lots", "lot_receipts", "lot_ids", "batches",
                               "batch_components", "batch_steps", "weighings", "label_prints",
                               "signatures", "verifications", "verification_checks")}
        self.names = {**PHARMACISTS, **TECHNICIANS}
        self.approver = "pharm"
        self.tpl = {k: (t.version, self.templates.hashes[k])
                    for k, t in self.templates.templates.items()}
        self.patients = [f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
                         for _ in range(max(100, self.n["prints"] // 30))]
        self._finish_receipts(lots)
        # events per day
        lots_by_day: dict[date, list] = {}
        for lot in lots:
            lots_by_day.setdefault(max(lot["received"], self.start - timedelta(days=40)),
                                   []).append(lot)
        batches_by_day: dict[date, list] = {}
        for b in batches:
            batches_by_day.setdefault(b["day"], []).append(b)
        prints_by_day: dict[date, list] = {}
        day = min(lots_by_day)
        chunk_end = day + timedelta(days=90)
        self._new_chunk()
        n_done = 0
        while day <= self.end:
            self._day(day, lots_by_day.get(day, []), batches_by_day.get(day, []),
                      prints_by_day)
            n_done += len(batches_by_day.get(day, []))
            day += timedelta(days=1)
            if day >= chunk_end or day > self.end:
                self._flush()
                self.progress(f"  {day.isoformat()}: {n_done:,} batches, audit entries "
                              f"{self.audit_id:,} ({time.perf_counter() - t0:.0f} s)")
                chunk_end = day + timedelta(days=90)
                self._new_chunk()
        # no ANALYZE: a pharmacy's own file has no statistics, so neither does this one
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        self.counts["generate_s"] = time.perf_counter() - t0
        return self.counts

    def _finish_receipts(self, lots):
        """Receipts cover what the lot gave, plus 5-25% left over (100-500 g, or mL)."""
        rng = self.rng
        for lot in lots:
            need = lot["consumed"] * Decimal(str(round(1 + rng.uniform(0.05, 0.25), 3)))
            if lot["unit"] == "mg":  # received in g
                amount = max(int(need / 1000) + 1, rng.choice((100, 250, 500)))
            else:  # mL
                amount = max(int(need) + 1, rng.choice((500, 1000, 4000)))
            parts = [amount] if rng.random() < 0.75 else [amount // 2, amount - amount // 2]
            lot["receipts"] = [p for p in parts if p > 0]

    def _new_chunk(self):
        self.buf = {k: [] for k in ("component_lots", "lot_receipts", "lot_ids", "batches",
                                    "batch_components", "batch_steps", "weighings",
                                    "to_compounded", "sig1", "verifications",
                                    "verification_checks", "to_final", "sig2", "to_hold",
                                    "label_prints", "audit_log")}

    def _flush(self):
        c, b = self.conn, self.buf

        def ins(table, rows):
            if rows:
                # columns added later with a default (m020's site: MAIN) are left to it,
                # as the store leaves them out of a record's digest at their default
                cols = [k for k in self.cols[table] if k in rows[0]]
                c.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                              f"({', '.join('?' * len(cols))})",
                              [[r[k] for k in cols] for r in rows])
        c.execute("BEGIN IMMEDIATE")
        for t in ("component_lots", "lot_receipts", "lot_ids", "batches", "batch_components",
                  "batch_steps", "weighings"):
            ins(t, b[t])
        c.executemany("UPDATE batches SET status = 'compounded' WHERE lot_id = ?",
                      [(x,) for x in b["to_compounded"]])
        ins("signatures", b["sig1"])
        ins("verifications", b["verifications"])
        ins("verification_checks", b["verification_checks"])
        c.executemany("UPDATE batches SET status = ? WHERE lot_id = ?", b["to_final"])
        ins("signatures", b["sig2"])
        c.executemany("UPDATE batches SET status = 'quarantine' WHERE lot_id = ?",
                      [(x,) for x in b["to_hold"]])
        ins("label_prints", b["label_prints"])
        c.executemany("INSERT INTO audit_log (id, at, actor, action, lot_id, details, "
                      "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)", b["audit_log"])
        c.execute("COMMIT")
        for k, v in b.items():
            self.counts[k] = self.counts.get(k, 0) + len(v)

    # ------------------------------------------------------------ rows and audit entries

    def _next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    @staticmethod
    def ref(table: str, key: list, row: dict) -> dict:
        return {"table": table, "key": key, "sha256": sha256(canonical(row))}

    def audit(self, at: str, actor: str, action: str, details: dict, lot_id=None,
              records=None):
        if records:
            details = {**details, "records": records}
        self.audit_id += 1
        entry = {"id": self.audit_id, "at": at, "actor": actor, "action": action,
                 "lot_id": lot_id, "details": canonical(details), "prev_hash": self.prev}
        h = chain_hash(entry, self.key)
        self.buf["audit_log"].append((entry["id"], at, actor, action, lot_id,
                                      entry["details"], self.prev, h))
        self.prev = h

    def _day(self, day: date, lots, batches, prints_by_day):
        rng = self.rng
        units = []  # (start second, kind, payload)
        for i, lot in enumerate(lots):
            units.append((7 * 3600 + i * 90, 0, lot))
        slot = min(1200, 10 * 3600 // max(1, len(batches)))
        busy = []
        for k, b in enumerate(batches):
            s = 8 * 3600 + k * slot
            units.append((s, 1, b))
            busy.append((s, s + 25 * (len(b["weighings"]) + 10)))
        for p in prints_by_day.pop(day, []):
            t = rng.uniform(8.5 * 3600, 19 * 3600)
            for s, e in busy:
                if s <= t < e:
                    t = e + rng.uniform(1, 30)
            units.append((t, 2, p))
        units.sort(key=lambda x: (x[0], x[1]))
        clock = 0.0
        for start, kind, payload in units:
            clock = max(clock, start)
            if kind == 0:
                clock = self._receive(day, clock, payload)
            elif kind == 1:
                clock = self._batch(day, clock, payload, prints_by_day)
            else:
                clock = self._print(day, clock, *payload)

    def _receive(self, day, clock, lot) -> float:
        by = self.rng.choice(list(TECHNICIANS))
        unit_in = "g" if lot["unit"] == "mg" else "mL"
        for n, amount in enumerate(lot["receipts"]):
            clock += self.rng.uniform(10, 40)
            at = stamp(day, clock)
            qty = u.q(amount, unit_in)
            records = []
            if n == 0:
                lot["id"] = self._next("component_lots")
                row = {"id": lot["id"], "ingredient": lot["ingredient"],
                       "lot_number": lot["lot_number"], "manufacturer": lot["manufacturer"],
                       "expires": lot["expires"].isoformat(), "potency_percent": lot["potency"],
                       "unit": lot["unit"], "created_by": by, "created_at": at}
                self.buf["component_lots"].append(row)
                records.append(self.ref("component_lots", [lot["id"]], row))
            rid = self._next("lot_receipts")
            rrow = {"id": rid, "component_lot_id": lot["id"],
                    "quantity": u.plain(qty.to(lot["unit"]).value), "received_as": u.fmt(qty),
                    "received_by": by, "received_at": at}
            self.buf["lot_receipts"].append(rrow)
            records.append(self.ref("lot_receipts", [rid], rrow))
            self.audit(at, by, "inventory.receive" if n == 0 else "inventory.receive-more",
                       {"ingredient": lot["ingredient"], "lot_number": lot["lot_number"],
                        "quantity": qty.as_json(), "expires": lot["expires"].isoformat(),
                        "potency_percent": lot["potency"],
                        "manufacturer": lot["manufacturer"]}, records=records)
        return clock

    def _batch(self, day, clock, b, prints_by_day) -> float:
        rng, proto, buf = self.rng, b["proto"], self.buf
        tech, pharm = b["tech"], b["pharm"]

        def tick(lo=5, hi=20):
            nonlocal clock
            clock += rng.uniform(lo, hi)
            return stamp(day, clock)

        self._seq = getattr(self, "_seq", {})
        seq = self._seq[day] = self._seq.get(day, 0) + 1
        lot_id = lotid.make_lot_id(day, seq)
        at = tick()
        lrow = {"lot_id": lot_id, "day": day.isoformat(), "seq": seq, "allocated_by": tech,
                "allocated_at": at}
        buf["lot_ids"].append(lrow)
        self.audit(at, tech, "lot-id.allocate", {"lot_id": lot_id}, lot_id=lot_id,
                   records=[self.ref("lot_ids", [lot_id], lrow)])
        expiries = {f"{ing} lot {lot['lot_number']}": lot["expires"]
                    for ing, lot in b["lots"].items()}
        bud = compute_bud(proto.formula, day, proto.storage, expiries,
                          self.settings.bud_policy, filler=proto.filler)
        at = tick()
        row = {"lot_id": lot_id, **proto.row, "compounded_on": day.isoformat(),
               "bud": bud.bud.isoformat(), "bud_json": canonical(bud_json(bud)),
               "status": "planned", "compounded_by": tech, "created_at": at}
        buf["batches"].append(row)
        digest_row = {k: v for k, v in row.items() if k not in ("status", "bud", "bud_json")}
        records = [self.ref("batches", [lot_id], digest_row)]
        comps = []
        for ing in sorted(b["lots"]):
            lot = b["lots"][ing]
            c = {"lot_id": lot_id, "ingredient": ing, "component_lot_id": lot["id"],
                 "planned_quantity": u.plain(proto.needs[ing]), "unit": lot["unit"],
                 "chosen": "earliest-expiry"}
            comps.append(c)
            buf["batch_components"].append(c)
            records.append(self.ref("batch_components", [lot_id, ing], c))
        steps = []
        for step, what, ing, qty, unit, _ in proto.steps:
            s = {"lot_id": lot_id, "step": step, "what": what, "ingredient": ing,
                 "quantity": qty, "unit": unit}
            steps.append(s)
            buf["batch_steps"].append(s)
            records.append(self.ref("batch_steps", [lot_id, step], s))
        self.audit(at, tech, "batch.create", {
            "formula_id": proto.fid, "formula_version": proto.formula.version,
            "formula_sha256": proto.sha, "order": proto.order_dict, "storage": proto.storage,
            "bud": bud.bud.isoformat(),
            "component_lots": {i: lot["lot_number"] for i, lot in b["lots"].items()}},
            lot_id=lot_id, records=records)
        # weighings
        weigher = tech if rng.random() < 0.8 else rng.choice(list(TECHNICIANS))
        wrows = []
        for w in b["weighings"]:
            at = tick(10, 40)
            wid = self._next("weighings")
            lot = w["lot"]
            wr = {"id": wid, "lot_id": lot_id, "step": w["step"], "what": w["what"],
                  "ingredient": w["ingredient"],
                  "component_lot_id": lot["id"] if lot else None,
                  "planned_quantity": w["planned"], "planned_unit": w["unit"],
                  "quantity": w["quantity"], "unit": w["unit"],
                  "consumed_quantity": None if w["consumed"] is None else u.plain(w["consumed"]),
                  "deviation_percent": w["dev"], "deviation_reason": None,
                  "reweigh_reason": w["reweigh"], "weighed_by": weigher, "weighed_at": at}
            wrows.append(wr)
            buf["weighings"].append(wr)
            self.audit(at, weigher, "batch.reweigh" if w["reweigh"] else "batch.weigh",
                       {"step": w["step"], "what": w["what"], "ingredient": w["ingredient"],
                        "component_lot": lot["lot_number"] if lot else None,
                        "amount": {"amount": w["quantity"], "unit": w["unit"]},
                        "planned": {"amount": w["planned"], "unit": w["unit"]},
                        "deviation_percent": w["dev"], "deviation_reason": None,
                        "reweigh_reason": w["reweigh"]},
                       lot_id=lot_id, records=[self.ref("weighings", [wid], wr)])
            if b["outcome"] != "planned" and w is b["weighings"][len(proto.steps) - 1]:
                buf["to_compounded"].append(lot_id)
                self.audit(at, weigher, "batch.status",
                           {"from": "planned", "to": "compounded",
                            "reason": "every plan step weighed"}, lot_id=lot_id)
        if b["outcome"] in ("planned", "compounded"):
            return clock
        # verification (a pharmacist who did not compound or weigh: always true here)
        content_row = {k: v for k, v in row.items() if k != "status"}
        content = sha256(canonical({"batch": content_row, "components": comps,
                                    "steps": steps, "weighings": wrows}))
        at = tick()
        sig = self._sig(at, pharm, "verified", lot_id, content, {"failed": [], "passed": True})
        self.buf["sig1"].append(sig)
        vid = self._next("verifications")
        vrow = {"id": vid, "lot_id": lot_id, "signature_id": sig["id"], "passed": 1,
                "batch_sha256": content}
        buf["verifications"].append(vrow)
        refs = [self.ref("verifications", [vid], vrow)]
        for i, (code, detail) in enumerate(self._checks(b, row, wrows, bud, pharm), 1):
            cr = {"verification_id": vid, "seq": i, "code": code, "passed": 1, "detail": detail}
            buf["verification_checks"].append(cr)
            refs.append(self.ref("verification_checks", [vid, i], cr))
        self.audit(at, pharm, "batch.verify", {"verification_id": vid, "passed": True,
                                               "batch_sha256": content},
                   lot_id=lot_id, records=refs)
        at = tick()
        if b["outcome"] == "rejected":
            reason = rng.choice(REJECT_REASONS)
            sig = self._sig(at, pharm, "rejected", lot_id, content, {"from": "compounded"},
                            reason)
            buf["sig1"].append(sig)
            buf["to_final"].append(("rejected", lot_id))
            self.audit(at, pharm, "batch.status", {"from": "compounded", "to": "rejected",
                                                   "signature_id": sig["id"],
                                                   "reason": reason}, lot_id=lot_id)
            return clock
        sig = self._sig(at, pharm, "released", lot_id, content,
                        {"from": "compounded", "verification_id": vid})
        buf["sig1"].append(sig)
        buf["to_final"].append(("released", lot_id))
        self.audit(at, pharm, "batch.status", {"from": "compounded", "to": "released",
                                               "signature_id": sig["id"], "reason": None},
                   lot_id=lot_id)
        for _ in range(b["batch_prints"]):
            clock = self._print(day, clock + rng.uniform(10, 40), b, lot_id, "batch")
        if b["outcome"] == "quarantine":
            at = tick()
            reason = rng.choice(HOLD_REASONS)
            sig = self._sig(at, pharm, "quarantined", lot_id, content, {"from": "released"},
                            reason)
            buf["sig2"].append(sig)
            buf["to_hold"].append(lot_id)
            self.audit(at, pharm, "batch.status", {"from": "released", "to": "quarantine",
                                                   "signature_id": sig["id"],
                                                   "reason": reason}, lot_id=lot_id)
            return clock
        horizon = max(0, min((bud.bud - day).days, 90, (self.end - day).days))
        for _ in range(b["dispensings"]):
            d = day + timedelta(days=min(horizon, 1 + int(rng.expovariate(1 / 12))))
            if d == day:  # made today (the last day of the history): dispensed right away
                clock = self._print(day, clock, b, lot_id, "dispensing")
            else:
                prints_by_day.setdefault(d, []).append((b, lot_id, "dispensing"))
        return clock

    def _sig(self, at, signer, meaning, lot_id, content, details, reason=None) -> dict:
        sid = self._next("signatures")
        values = {"signer": signer, "signer_name": self.names[signer], "role": "pharmacist",
                  "meaning": meaning, "subject_type": "batch", "subject_id": lot_id,
                  "subject_version": None, "record_sha256": content, "lot_id": lot_id,
                  "reason": reason, "details": canonical(details), "signed_at": at}
        row = {"id": sid, **values}
        self.audit(at, signer, f"sign.{meaning}",
                   {k: v for k, v in values.items() if k not in ("signer", "details")}
                   | {"details": details}, lot_id=lot_id,
                   records=[self.ref("signatures", [sid], row)])
        return row

    def _checks(self, b, row, wrows, bud, pharm):
        proto = b["proto"]
        tol = u.plain(proto.tolerance)
        n = len(proto.steps)
        out = [("formula-approved", f"formula {proto.fid} version {proto.formula.version} "
                f"(SHA-256 {proto.sha[:12]}) approved by {self.approver}"),
               ("steps-weighed", f"every plan step weighed ({n} of {n})")]
        latest = {w["step"]: w for w in wrows}
        for step in sorted(latest):
            w = latest[step]
            out.append(("tolerance", f"step {step} ({w['what']}): "
                        f"{u.fmt(u.q(w['quantity'], w['unit']))} against "
                        f"{u.fmt(u.q(w['planned_quantity'], w['unit']))} planned, "
                        f"{w['deviation_percent']}% (tolerance ±{tol}%)"))
        for ing, lot in b["lots"].items():
            out.append(("component-lot", f"{ing} lot {lot['lot_number']}: expires "
                        f"{format_date(lot['expires'])}, valid and unexpired at compounding"))
        out.append(("bud", f"BUD recomputed from the lots used: {format_date(bud.bud)} "
                    f"({bud.binding.as_json().get('kind', '')})"))
        out.append(("verifier", f"verifier {pharm} is a pharmacist and neither compounded "
                    "nor weighed this batch"))
        return out

    def _print(self, day, clock, b, lot_id, kind) -> float:
        rng = self.rng
        clock += rng.uniform(2, 15)
        at = stamp(day, clock)
        pid = self._next("label_prints")
        by = rng.choice(list(TECHNICIANS))
        done = b.setdefault("printed", set())
        # a dispensing label is a new dispense each time (another Rx): never a reprint
        # (m017 allows a dispensing reprint only of a recorded dispense); the generated
        # history records no dispensings rows, so its dispensed totals read zero
        reprint = int(kind in done) if kind != "dispensing" else 0
        done.add(kind)
        tid = "batch-thermal" if kind == "batch" else "dispensing-thermal"
        version, tsha = self.tpl[tid]
        values = {"lot_id": lot_id, "kind": kind, "template_id": tid,
                  "template_version": version, "template_sha256": tsha,
                  "copies": 1 if kind == "dispensing" else rng.choice((1, 1, 2, 4)),
                  "pdf_sha256": hashlib.sha256(f"{lot_id}-{pid}".encode()).hexdigest(),
                  "output_path": f"labels/{lot_id}-{tid}.pdf", "reprint": reprint,
                  "patient": None, "rx_number": None, "prescriber": None, "directions": None,
                  "dispensed_quantity": None}
        if kind == "dispensing":
            proto = b["proto"]
            values.update({
                "patient": rng.choice(self.patients),
                "rx_number": f"RX{rng.randrange(1, 10 ** 7):07d}",
                "prescriber": rng.choice(PRESCRIBERS),
                "directions": "Take one capsule by mouth at bedtime"
                if proto.formula.dosage_form == "capsule" else "Use as directed at bedtime",
                "dispensed_quantity": "30 capsules"
                if proto.formula.dosage_form == "capsule" else proto.row["quantity"]})
        row = {"id": pid, **values, "printed_by": by, "printed_at": at}
        self.buf["label_prints"].append(row)
        self.audit(at, by, "label.reprint" if reprint else "label.print", values,
                   lot_id=lot_id, records=[self.ref("label_prints", [pid], row)])
        return clock
