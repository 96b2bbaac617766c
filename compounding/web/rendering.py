"""The Jinja2 environment of the bench's pages: autoescaped, compiled once per process,
with the filters the templates use (dates as ``23 MAY 2027``, amounts as the CLI shows
them, URL parts, UTC stamps)."""

from __future__ import annotations

import functools
from urllib.parse import quote


@functools.cache
def output_escape():
    """The escape the compiled templates call on every ``{{ value }}``: markupsafe's own
    escaping (the same characters, the same entities) without wrapping each result in a
    ``Markup`` object. The wrapper is a Python-level ``__new__`` per value, and a page's
    output values only ever go to the page text (Jinja's generated code uses this function
    for output and nothing else): a third of the work-queue page's CPU was these calls
    (py-spy, docs/bench.md). Falls back to ``markupsafe.escape`` itself when markupsafe's
    inner escape is not there."""
    import markupsafe
    inner = getattr(markupsafe, "_escape_inner", None)
    if inner is None:
        return markupsafe.escape

    def escape(s, /):
        if type(s) is str:
            return inner(s)
        html = getattr(s, "__html__", None)
        if html is not None:  # Markup and friends: already safe
            return html()
        return inner(str(s))

    return escape


def amount_filter(show_amount, size: int = 8192):
    """The ``amount`` filter: ``show_amount(value, unit)`` (the CLI's readable amount),
    each distinct value and unit worked out once per process: a batch page shows a dozen
    amounts, each parsed and formatted by the units module (a tenth of the page's CPU,
    cProfile). Keyed by the value's type and exact text, so ``1.50`` and ``1.5`` are
    formatted each on its own; at most ``size`` kept (then no more are added)."""
    cache: dict = {}

    def amount(value, unit):
        if value is None:
            return "-"
        key = (value.__class__, str(value), unit)
        text = cache.get(key)
        if text is None:
            text = show_amount(value, unit)
            if len(cache) < size:
                cache[key] = text
        return text

    return amount


def environment():
    """A new environment with every template compiled."""
    from jinja2 import Environment, PackageLoader, Template
    import markupsafe

    fast_escape = output_escape()

    class BenchTemplate(Template):
        """A template whose compiled code escapes with :func:`output_escape` (its module
        globals are its own: the name ``escape`` there is what the output code calls)."""

        @classmethod
        def from_code(cls, environment, code, globals, uptodate=None):
            rv = super().from_code(environment, code, globals, uptodate)
            namespace = rv.root_render_func.__globals__
            if namespace.get("escape") is markupsafe.escape:
                namespace["escape"] = fast_escape
            return rv

    class BenchEnvironment(Environment):
        """Jinja2 with ``row.name`` read as ``row["name"]`` first when ``row`` is a plain
        dict (the store's rows): Jinja tries the attribute first and a dict has none, so
        every cell of a page raised and caught an AttributeError (a sixth of the server's
        CPU under load, py-spy). Anything else is looked up as Jinja does."""

        def getattr(self, obj, attribute):
            if type(obj) is dict:
                try:
                    return obj[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    # auto_reload off: the templates ship in the package and are compiled once per process
    # (Jinja otherwise stats the file at every render)
    env = BenchEnvironment(loader=PackageLoader("compounding.web", "templates"),
                           autoescape=True, trim_blocks=True, lstrip_blocks=True,
                           auto_reload=False, cache_size=-1)
    env.template_class = BenchTemplate
    from ..dates import format_date
    from ..cli.inventory import show_amount
    # the same few thousand days fill every table: each is formatted once per process
    # (a tenth of the queue page's CPU, py-spy, docs/bench.md)
    show_day = functools.lru_cache(maxsize=8192)(format_date)
    env.filters["date"] = lambda d: (show_day(d) if isinstance(d, str) else format_date(d)) \
        if d else "-"
    env.filters["amount"] = amount_filter(show_amount)
    env.filters["urlpart"] = lambda s: quote(str(s), safe="")
    from .once import new_once
    env.globals["once"] = new_once  # a new one-time token per rendered form (.once)
    env.filters["utc"] = lambda s: (s[:10] + " " + s[11:16] + " UTC") if s else "-"
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)  # compiled now, not by the first requests racing
    return env
