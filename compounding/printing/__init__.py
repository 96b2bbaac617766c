"""Printing labels straight to printers (issue 14): ZPL for thermal printers, PDF for sheets.

- :mod:`.zpl` draws the SAME placed marks that :func:`compounding.labeling.layout.layout_label`
  computes for the PDF (layout computed once, drawn twice): text as bitmaps of the shipped
  font at the printer's dpi, Code 128 bars and DataMatrix modules as ``^GB`` boxes on the
  printer's dots, the label size in ``^PW``/``^LL``, all copies in one ``^PQ``.
- :mod:`.status` reads a Zebra ``~HS`` host status reply.
- :mod:`.transport` sends a job: raw TCP (port 9100) or CUPS ``lp``; every failure is one
  :class:`compounding.errors.PrinterError` line.
- :mod:`.jobs` builds the job for a printer from the settings (``[printers.NAME]``).

The PDF itself stays in :mod:`compounding.labeling`.
"""
