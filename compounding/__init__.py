"""LDN compounding: formula specs, batch calculator, BUD, records and labels."""

__version__ = "0.1.0"
