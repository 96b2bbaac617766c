"""Pharmacy settings: who the pharmacy is, what its balance can weigh, which BUD policy.

Read from TOML, validated like formulas (frozen, ``extra="forbid"``). Where the file is:
``--settings PATH``, else ``$COMPOUNDING_SETTINGS``, else ``pharmacy.toml`` in the current
directory, else the built-in defaults below (a Class III balance, USP <795> policy).
Pure: :func:`resolve_path` takes the environment and cwd as arguments.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (Field, PlainSerializer, PlainValidator, ValidationError,
                      field_validator, model_validator)

from . import units as u
from .errors import InputError, SpecError
from .formulas import Mass, Spec, Volume
from .gs1 import gtin_check_digit, validate_gtin  # noqa: F401 (re-exported: callers before #13)
from .settings_file import DEFAULT_FILE, ENV_VAR, resolve_path  # noqa: F401 (re-exported)
from .spec_files import read_toml, validation_messages
from .sites import DEFAULT_SITE, validate_site


#: USP <1176>: the minimum weighable quantity keeps one weighing within 5% error.
MWQ_ERROR = Decimal("5")


def _percent_setting(v):
    qty = u.parse(v, u.PERCENT, positive=True)
    if qty.unit != "%" or not Decimal(0) < qty.value <= Decimal(50):
        raise ValueError(f"{v!r}: give a plain percent above 0% and at most 50% (e.g. '5%')")
    return qty


PercentSetting = Annotated[u.Quantity, PlainValidator(_percent_setting),
                           PlainSerializer(lambda q: f"{u.plain(q.value)}%", return_type=str)]


class Balance(Spec):
    """The balance used for weighing (USP <1176> / <41>)."""

    name: str = "Class III prescription balance"
    # USP <1176>: Class III sensitivity 6 mg; for <= 5% error MWQ = 6 mg / 0.05 = 120 mg.
    min_weighable: Mass = u.q("120", "mg")
    readability: Mass = u.q("1", "mg")
    #: The most a single reading may be off (USP <1176>: a Class III balance is sensitive to
    #: 6 mg). None: min_weighable x 5%, since USP <1176> sets MWQ = sensitivity / 5%.
    sensitivity: Mass | None = None
    #: Worst-case error the balance may add along a chain of drug-carrying weighings
    #: (issue 11). None: half the formula's strength tolerance (5% for the usual ±10%).
    uncertainty_budget: PercentSetting | None = None

    @model_validator(mode="after")
    def _sensitivity_below_mwq(self):
        # issue 11: a balance off by as much as the smallest amount it may weigh is no balance
        if self.sensitivity is not None and self.sensitivity >= self.min_weighable:
            raise ValueError(f"sensitivity: {u.fmt(self.sensitivity)} must be below "
                             f"min_weighable {u.fmt(self.min_weighable)} (USP <1176>: MWQ = "
                             "sensitivity / 5%)")
        return self

    def sensitivity_mg(self):
        """The balance sensitivity in mg (the setting, or 5% of the minimum weighable)."""
        if self.sensitivity is not None:
            return self.sensitivity.to("mg").value
        return self.min_weighable.to("mg").value * MWQ_ERROR / 100


class Measuring(Spec):
    """Volumetric measuring devices for liquid aliquots."""

    # Conservative default (unconfirmed for any given pharmacy): a 1 mL graduated oral
    # syringe or pipette read to 0.01 mL; smaller volumes are not taken.
    min_volume: Volume = u.q("1", "mL")
    readability: Volume = u.q("0.01", "mL")


#: Serial line speeds a balance may be set to (the makers' interface menus).
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


class BalanceDevice(Spec):
    """A balance connected by its serial port (issue 16): ``[balances.NAME]``.

    ``protocol``: ``mt-sics`` (Mettler Toledo), ``ad`` (A&D standard format) or ``ohaus``
    (OHAUS print format); see ``compounding/devices/balances.py`` and docs/devices.md.
    ``readability`` and ``min_weighable`` are this balance's own (USP <1176>: MWQ =
    sensitivity / 0.05 for a 5% error; USP <41> for analytical balances): a reading below
    ``min_weighable`` is refused. ``serial_number`` is recorded with every weighing; an
    MT-SICS balance reports its own (``I4``), which must then match. A balance connected as
    a keyboard (wedge) needs no entry: what it types is typed input.
    """

    port: str = Field(min_length=1, description="serial device (/dev/ttyUSB0, COM3) or "
                      "pyserial URL (socket://host:port)")
    protocol: Literal["mt-sics", "ad", "ohaus"]
    baudrate: int = 9600
    bytesize: Literal[7, 8] = 8
    parity: Literal["none", "even", "odd"] = "none"
    stopbits: Literal[1, 2] = 1
    handshake: Literal["none", "xon-xoff", "rts-cts"] = "none"
    readability: Mass
    min_weighable: Mass
    serial_number: str | None = Field(default=None, min_length=1, max_length=40,
                                      pattern=r"^[\x21-\x7e]+(?: [\x21-\x7e]+)*$")
    model: str | None = Field(default=None, min_length=1, max_length=80)
    #: Seconds to wait for a stable reading (a duration, not a dose).
    timeout: Decimal = Field(default=Decimal("15"), gt=0, le=120)

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, v):
        if v not in BAUD_RATES:
            raise ValueError(f"{v} is not a balance baud rate; allowed: "
                             f"{', '.join(map(str, BAUD_RATES))}")
        return v

    @model_validator(mode="after")
    def _sane(self):
        if self.min_weighable < self.readability:
            raise ValueError("min_weighable is below readability")
        if self.protocol != "mt-sics" and not self.serial_number:
            raise ValueError(f"serial_number: required for a {self.protocol} balance (it does "
                             "not report its own; it is recorded with every weighing)")
        return self


class Pharmacy(Spec):
    name: str = "Sample Compounding Pharmacy"
    address: str = "1 Example Street, Springfield"
    phone: str = "(555) 010-0100"


class Titration(Spec):
    """Measuring and dispensing a titration schedule (issue 17; docs/titration.md)."""

    #: Issue 17: the oral syringe dispensed is graduated in 0.1 mL steps unless set here.
    syringe_graduation: Volume = u.q("0.1", "mL")
    #: A liquid dose not on the graduation: refused (default), or rounded down with the
    #: difference stated on the chart and in the output.
    off_graduation: Literal["refuse", "round-down"] = "refuse"
    #: Left in the bottle, the syringe adapter and the syringe per oral-liquid fill
    #: (unconfirmed house figure: measure it with the bottle and adapter in use).
    liquid_loss: Volume = u.q("2", "mL")
    #: Left in a dropper bottle per drops fill (unconfirmed house figure).
    drops_loss: Volume = u.q("1", "mL")
    #: Topi-CLICK priming and what stays in the dispenser per cream fill (unconfirmed).
    cream_loss: Mass = u.q("3", "g")
    #: Formula ids with antimicrobial effectiveness testing (USP <51>) on file. Without it a
    #: study-based BUD longer than an aqueous category default is not used to size fills
    #: (USP <795> (2023); shared/DOMAIN.md): the fills follow the category default.
    aet_on_file: tuple[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")], ...] = ()


#: A printer name in ``[printers.NAME]``: lower-case letters, digits, '-' and '_' (issue 14).
PRINTER_NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,39}$"
#: ``tcp://HOST[:PORT]`` (raw printing, port 9100 by default) or ``cups:QUEUE`` (through
#: ``lp``). HOST is a DNS name, an IPv4 address or a bracketed IPv6 address; QUEUE follows
#: a conservative subset of the CUPS name rule (letters, digits, '_', '.', '@', '+', '-';
#: at most 127 characters: lpadmin(8)).
CONNECTION_RE = re.compile(
    r"^(?:tcp://(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"|cups:(?P<queue>[A-Za-z0-9_.@+-]{1,127}))$")
#: The raw (JetDirect / AppSocket) port of label printers (Zebra ZPL II Programming Guide:
#: "port 9100"; the de-facto standard for raw TCP printing).
RAW_PORT = 9100


class Printer(Spec):
    """One printer (``[printers.NAME]``, issue 14): what it speaks and how to reach it."""

    language: Literal["zpl", "pdf"] = Field(
        description="zpl: a Zebra-class thermal printer fed ZPL II; pdf: a PDF through CUPS "
                    "(or a printer that accepts PDF on its raw port)")
    dpi: Literal[152, 203, 300, 600] = Field(
        description="print head resolution; ZPL labels are laid out on this dot grid "
                    "(Zebra heads: 6, 8, 12 or 24 dots/mm)")
    connection: str = Field(description="tcp://HOST:9100 (raw) or cups:QUEUE (lp)")
    description: str = Field(default="", max_length=200)
    timeout_seconds: int = Field(default=10, ge=1, le=120,
                                 description="connect / send / status timeout")
    check_status: bool = Field(
        default=True, description="ZPL over TCP: ask ~HS before each job and refuse to send "
                                  "when the printer reports paper out, head open or paused")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        import unicodedata
        bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
        if bad:
            raise ValueError(f"control or invisible character U+{ord(bad[0]):04X} is not "
                             f"allowed (it would garble `printers list`)")
        return value

    @field_validator("connection")
    @classmethod
    def _connection(cls, value: str) -> str:
        m = CONNECTION_RE.fullmatch(value)
        if not m:
            raise ValueError(f"{value!r} is not a printer connection; write "
                             "'tcp://HOST:9100' (raw) or 'cups:QUEUE' (through lp)")
        if m["port"] is not None and not 1 <= int(m["port"]) <= 65535:
            raise ValueError(f"{value!r}: port must be 1 to 65535")
        return value

    @property
    def transport(self) -> str:
        return "cups" if self.connection.startswith("cups:") else "tcp"

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of a tcp:// printer."""
        m = CONNECTION_RE.fullmatch(self.connection)
        host = m["host"].strip("[]")
        return host, int(m["port"] or RAW_PORT)

    @property
    def queue(self) -> str:
        """The CUPS queue of a cups: printer."""
        return CONNECTION_RE.fullmatch(self.connection)["queue"]

class Web(Spec):
    """The bench web service (``compounding serve``, issue 15)."""

    #: Minutes without a request after which a signed-in bench session ends (issue 15:
    #: "idle timeout (a setting, default 15 minutes)"). 1 minute to 8 hours.
    session_idle_minutes: int = Field(default=15, ge=1, le=480)


class Records(Spec):
    """The records' own safeguards (issue 12)."""

    #: The audit chain's key file (HMAC-SHA256; compounding/store/audit_key.py): made on
    #: first use with mode 0600. Relative to this settings file's folder. Default:
    #: $COMPOUNDING_AUDIT_KEY, else ~/.config/compounding/audit.key. Keep a copy of the key
    #: somewhere safe: without it the keyed entries cannot be verified or added to.
    audit_key_file: str | None = Field(default=None, min_length=1, max_length=4096)

    @field_validator("audit_key_file")
    @classmethod
    def _path_text(cls, v):
        if v is not None and any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("a file path without control characters")
        return v


class Users(Spec):
    """Signing in (issue 12): how long a lockout lasts."""

    #: Cool-down after MAX_FAILED_ATTEMPTS wrong passphrases in a row, in minutes (issue 12:
    #: default 15). Each further lockout without a right passphrase in between doubles it,
    #: up to compounding.store.users.LOCKOUT_CAP_MINUTES (24 hours).
    lockout_minutes: int = Field(default=15, ge=1, le=1440)


#: A reorder point: a positive mass or volume.
_StockAmount = Annotated[u.Quantity, PlainValidator(
    lambda v: u.parse(v, {u.MASS, u.VOLUME}, field="reorder point")),
    PlainSerializer(lambda q: f"{u.plain(q.value)} {q.unit}", return_type=str)]


class Settings(Spec):
    #: This installation's site in a pharmacy group (issue 20; compounding/sites.py): 2-4
    #: of A-Z and 0-9, a letter first. Batches made, lots received and labels printed here
    #: belong to it; lot IDs carry it. ``MAIN`` (the default) keeps the 10-digit lot IDs.
    site: str = DEFAULT_SITE
    #: The store (issue 20) when neither ``--db`` nor ``$COMPOUNDING_DB`` names one: a
    #: ``postgresql://USER@HOST:PORT/NAME`` URL (no password: libpq reads ~/.pgpass), or a
    #: SQLite file (relative to this settings file's folder). docs/deploy.md.
    database: str | None = Field(default=None, min_length=1, max_length=1000)
    pharmacy: Pharmacy = Pharmacy()
    balance: Balance = Balance()
    measuring: Measuring = Measuring()
    web: Web = Web()
    records: Records = Records()
    users: Users = Users()
    #: Largest single dilution in the aliquot method (1 in N). Conservative default 100.
    max_dilution_ratio: int = Field(default=100, ge=2, le=1000)
    bud_policy: Literal["usp795", "stability-data"] = "usp795"
    #: Warn (labels print/dispense, batch release) when fewer days than this remain before
    #: the BUD (issue 11); a batch past its BUD is refused whatever this says.
    bud_warning_days: int = Field(default=7, ge=0, le=365)
    #: Statement printed on every label (USP <795> requires one saying it is compounded).
    compounded_statement: str = "Compounded preparation"
    #: Balances on serial ports, by name (issue 16): ``[balances.NAME]``.
    balances: dict[Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
                                        max_length=40)], BalanceDevice] = {}
    #: Optional GTIN per formula id (for a GS1 DataMatrix on labels).
    gtins: dict[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")], str] = {}
    #: Titration schedules: syringe graduation, fill losses (issue 17).
    rx: Titration = Titration()
    #: Printers by name (issue 14): ``[printers.NAME]``.
    printers: dict[Annotated[str, Field(pattern=PRINTER_NAME_RE)], Printer] = {}
    #: Reorder point per ingredient id (``[reorder_points]``, issue 19): a mass or volume;
    #: `inventory list --low` and `batch create` warn when usable stock (unexpired, not on
    #: hold) is at or below it. A pharmacy's own figure; none by default.
    reorder_points: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)],
                         _StockAmount] = {}
    #: Default printer per label template id (``[template_printers]``, issue 14).
    template_printers: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], str] = {}

    @field_validator("database")
    @classmethod
    def _database(cls, value):
        import unicodedata

        from .store.pg_url import is_url, refuse_keyword_value
        from .text import describe
        for i, ch in enumerate(value or "", start=1):
            if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
                raise ValueError(f"character {describe(ch)} at position {i} is a control or "
                                 "invisible character")
        if value and not is_url(value):
            try:  # 'host=... dbname=...' is not a file name (attack s4 finding 6)
                refuse_keyword_value(value, "database")
            except InputError as exc:  # one line: pydantic names the field already
                raise ValueError(str(exc).removeprefix("database: ")) from None
        return value

    @field_validator("site", mode="before")
    @classmethod
    def _site(cls, site):
        try:
            return validate_site(site, "site")
        except InputError as exc:  # one line: pydantic names the field already
            raise ValueError(str(exc).removeprefix("site: ")) from None

    @field_validator("gtins")
    @classmethod
    def _gtins(cls, gtins):
        return {k: validate_gtin(v) for k, v in gtins.items()}

    @model_validator(mode="after")
    def _template_printers(self):
        for tid, name in self.template_printers.items():
            if name not in self.printers:
                known = ", ".join(sorted(self.printers)) or "none configured"
                raise ValueError(f"template_printers.{tid}: no printer {name!r} in "
                                 f"[printers] ({known})")
        return self


def load_settings(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    if not Path(path).exists():
        raise SpecError(path, [("", "settings file not found")])
    raw, _ = read_toml(path)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(path, validation_messages(exc))
