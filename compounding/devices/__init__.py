"""Devices at the bench: what a barcode scanner typed and what a balance said, as typed values.

- :mod:`.scanning`: a scanner is a keyboard; the text it typed becomes a :class:`~.scanning.Scan`
  (GS1 element strings parsed with biip, or a plain lot text).
- :mod:`.balances`: a balance on a serial port (MT-SICS, A&D and OHAUS print formats over
  pyserial) becomes a :class:`~.balances.Reading`, stable or refused.

No store access here: identifying a scanned lot in the inventory and recording a weighing
belong to ``compounding.store``; this package only turns device text into values.
"""
