"""One error hierarchy for the whole package.

Every error a user can cause is a ``CompoundingError``. Each subclass also inherits the
matching built-in (``ValueError``, ``LookupError``, ``PermissionError``...) so library
callers can catch what they expect, keeps its facts as fields, and builds its one-line
message in ``__str__`` (the pint habit). The CLI turns any ``CompoundingError`` into a
one-line ``Error: ...`` and the error's ``exit_code``: 2 for bad input (like click's usage
errors), 1 for a refusal of a well-formed request.
"""

from __future__ import annotations


class CompoundingError(Exception):
    """Base class: a message for a person, and the CLI exit code."""

    exit_code = 1

    def __init__(self, message: str = "", **fields):
        super().__init__(message)
        self.message = message
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class InputError(CompoundingError, ValueError):
    """Bad input on the command line or in a request: exit code 2."""

    exit_code = 2


class UnitError(InputError):
    """A quantity that cannot be accepted (unit missing, ambiguous, wrong kind...)."""

    def __init__(self, text: str, reason: str, field: str | None = None):
        self.text = text
        self.reason = reason
        self.field = field
        super().__init__(str(self), text=text, reason=reason, field=field)

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.text!r}: {self.reason}"


class SpecError(CompoundingError, ValueError):
    """A data file (formula, catalogue, settings, template) that does not validate.

    ``problems`` is a list of ``(location, message)``; ``str()`` is one line per problem,
    each naming the file and the key path.
    """

    def __init__(self, path: str, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(str(self), path=self.path, problems=self.problems)

    def lines(self) -> list[str]:
        out = []
        for loc, msg in self.problems:
            parts = [x for x in (self.path, loc, msg) if x]
            out.append(": ".join(parts))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


class NotFoundError(CompoundingError, LookupError):
    """A formula, ingredient, lot or batch that does not exist."""

    exit_code = 2


class PlanError(InputError):
    """An order the calculator refuses (out of range, wrong filler, ...)."""


class BudError(InputError):
    """A BUD request that cannot be answered (storage not allowed, expired lot, ...)."""


class StoreError(CompoundingError, RuntimeError):
    """The database cannot be opened or refuses a write."""


class PrivilegeError(StoreError):
    """The database role in use may not do this (PostgreSQL's permission denied): e.g. the
    service role of a group adding a user, which only the owner role may (docs/deploy.md)."""


class RefusedError(CompoundingError, PermissionError):
    """A well-formed request that the rules forbid (wrong role, unapproved formula...)."""


class LabelError(CompoundingError, ValueError):
    """A label that cannot be printed correctly (text does not fit, barcode mismatch...)."""


class PrinterError(CompoundingError, OSError):
    """A printer that cannot be reached, refuses, times out or reports a fault (issue 14).

    Nothing is recorded as printed when this is raised; the message says how to get the
    label as a file instead (``--output``).
    """

    exit_code = 1

    def __str__(self) -> str:
        return self.message
