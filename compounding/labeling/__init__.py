"""Labels: template specs, content, pure layout, barcodes, and PDF rendering.

- :mod:`.templates` loads ``templates/*.toml`` (frozen pydantic specs, id + version + SHA-256);
- :mod:`.content` builds :class:`~.content.LabelData`, what a label says (pure);
- :mod:`.layout` positions text and barcodes (pure; wraps, shrinks to 6 pt, else refuses);
- :mod:`.code128` / :mod:`.datamatrix` make the symbols and decode them back;
- :mod:`.render` draws the PDF (``render(template, items, start_position=1, copies=1)``);
- :mod:`.worksheet` draws the compounding worksheet.

Import the submodules directly; this package imports nothing heavy on its own.
"""
