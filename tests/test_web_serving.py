"""How the bench serves (issue 15's measure, server CPU per request): static files from
memory, the templates' output escape, the inventory page from the library's listing, no
session write on a page without messages. Each keeps what it replaced: the same bytes,
headers, escaping and rows."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from web_support import TECH, build_sample, client, copy_sample, sign_in

STATIC = Path(__file__).resolve().parent.parent / "compounding" / "web" / "static"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def bench(sample, tmp_path):
    db, settings = copy_sample(*sample, tmp_path)
    c = client(db, settings, tmp_path / "labels")
    return {"db": db, "settings": settings, "c": c}


# ---------------------------------------------------------------- static files

@pytest.mark.parametrize("name, ctype", [
    ("bench.css", "text/css; charset=utf-8"),
    ("bench.js", "text/javascript; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
])
def test_static_files_are_the_package_files_with_type_and_headers(bench, name, ctype):
    c = bench["c"]
    r = c.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.content == (STATIC / name).read_bytes()
    assert r.headers["content-type"] == ctype
    assert r.headers["content-length"] == str(len(r.content))
    # the middleware's headers as on every response; static files may be cached
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert "cache-control" not in r.headers
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = c.get(f"/static/{name}", headers={"If-None-Match": f'"x", {etag}'})
    assert again.status_code == 304 and again.content == b""
    assert c.get(f"/static/{name}", headers={"If-None-Match": '"other"'}).status_code == 200
    head = c.head(f"/static/{name}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(r.content))


@pytest.mark.parametrize("path", [
    "/static/nope.css", "/static/", "/static/../app.py", "/static/%2e%2e/app.py",
    "/static/..%2fapp.py", "/static/bench.css/", "/static//etc/passwd",
    "/static/__init__.py", "/static/BENCH.CSS",
])
def test_static_unknown_paths_are_404(bench, path):
    r = bench["c"].get(path)
    assert r.status_code == 404
    assert "Error: no page at /" in r.text  # the one-line error page
    assert "import" not in r.text and "root:" not in r.text


def test_static_refuses_writes(bench):
    r = bench["c"].post("/static/bench.css", content=b"x")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert "Error: POST is not allowed at /static/bench.css" in r.text


# ---------------------------------------------------------------- output escaping

HOSTILE = ["<script>alert(1)</script>", "a & b", "\"quoted\" 'single'", "", "plain",
           "é ü ✓ 𝄞", "&amp;", "<<>>", "x" * 5000]


@pytest.mark.parametrize("value", HOSTILE + [0, 12, None, 1.5, date(2026, 12, 1)])
def test_output_escape_gives_markupsafes_text(value):
    import markupsafe
    from compounding.web.rendering import output_escape
    assert output_escape()(value) == str(markupsafe.escape(value))


def test_output_escape_keeps_safe_markup():
    import markupsafe
    from compounding.web.rendering import output_escape

    class Html:
        def __html__(self):
            return "<b>ok</b>"

    esc = output_escape()
    assert esc(markupsafe.Markup("<i>x</i>")) == "<i>x</i>"
    assert esc(Html()) == "<b>ok</b>"


def test_every_template_renders_as_with_jinjas_own_escape():
    """The compiled templates call the output escape (the hook is live), and a page
    rendered with it is byte for byte the page Jinja's own escape renders."""
    import markupsafe
    from compounding.web.rendering import environment, output_escape
    env = environment()
    fast = output_escape()
    names = env.list_templates(extensions=["html"])
    assert len(names) >= 10
    for name in names:
        assert env.get_template(name).root_render_func.__globals__["escape"] is fast, name
    t = env.get_template("error.html")
    ctx = {"message": HOSTILE[0] + HOSTILE[2], "user": {"name": "<b>tess</b>"},
           "csrf": "t'\"<", "flash": [("ok", "a & b"), ("error", "<i>")],
           "pharmacy": {"name": "Pharmacy & <Co>"}, "error": "x<y"}
    fast_html = t.render(**ctx)
    for tpl in {t, *(env.get_template(n) for n in names)}:
        tpl.root_render_func.__globals__["escape"] = markupsafe.escape
    assert t.render(**ctx) == fast_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fast_html
    assert "<script>alert" not in fast_html


# ---------------------------------------------------------------- pages

def _names(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="[^"]*">\s*<td>([^<]*)</td><td>([^<]*)</td>', html)


def test_inventory_page_lists_the_librarys_lots_a_page_at_a_time(bench):
    """55 more lots: page 1 has the 50 earliest-expiring with stock, page 2 the rest, in
    the order and with the amounts of `inventory list` (the library's listing); a lot
    used up is not listed."""
    from compounding import units as u
    from compounding.cli.inventory import show_amount
    from compounding.store import Store
    with Store.open(bench["db"]) as store:
        today = store.today()
        for i in range(55):
            store.receive_lot("glycerol", f"PAGE-{i:02d}", today + timedelta(days=40 + i),
                              u.parse(f"{i + 1} g", {u.MASS}), "tess")
        listed = store.lots(include_empty=False)
    assert len(listed) > 55
    c = bench["c"]
    sign_in(c, *TECH)
    p1, p2 = c.get("/inventory").text, c.get("/inventory", params={"page": "2"}).text
    want = [(x["ingredient"], x["lot_number"]) for x in listed]
    assert _names(p1) == want[:50]
    assert _names(p2) == want[50:100]
    assert 'href="/inventory?page=2">Later expiry' in p1
    assert "Later expiry" not in p2 or len(want) > 100
    for x in listed[:50]:
        row = re.search(rf'<td>{x["lot_number"]}</td>.*?</tr>', p1, re.S).group(0)
        assert f'<td>{show_amount(x["on_hand"], x["unit"])}</td>' in row


def test_a_page_without_messages_writes_nothing_to_the_session(bench, monkeypatch):
    from compounding.web import sessions
    c = bench["c"]
    sign_in(c, *TECH)
    c.get("/")  # the sign-in's own flash, if any, taken
    saves = []
    real = sessions.SessionStore._save_flash
    monkeypatch.setattr(sessions.SessionStore, "_save_flash",
                        lambda self, s: (saves.append(list(s.flash)), real(self, s)))
    for path in ("/", "/inventory", "/verification"):
        assert c.get(path).status_code == 200
    assert saves == []
    # a message is still shown once, then taken (one write)
    r = c.get("/scan", params={"code": "no such lot"})
    assert r.status_code == 303
    saves.clear()
    first, second = c.get("/").text, c.get("/").text
    assert 'role="alert">Error: ' in first and 'role="alert"' not in second
    assert saves == [[]]


# ---------------------------------------------------------------- event loop or thread

def _routes(app, prefix=""):
    from starlette.routing import Mount
    for r in app.routes:
        if isinstance(r, Mount) and hasattr(r.app, "routes"):
            yield from _routes(r.app, prefix + r.path)
        elif hasattr(r, "endpoint") and hasattr(r, "methods"):
            for m in r.methods:
                yield m, prefix + r.path, r.endpoint


def test_only_the_listed_bounded_reads_run_on_the_event_loop(bench):
    """A route on the event loop blocks every other request while it runs: only the
    bounded GET reads of compounding.web.loop.ROUTES may be coroutines; every form post,
    weighing, print, signature and sign-in runs in a worker thread."""
    import inspect
    from compounding.web.loop import ROUTES
    seen = {}
    for method, path, endpoint in _routes(bench["c"].app):
        if method == "HEAD" or not endpoint.__module__.startswith("compounding."):
            continue  # FastAPI's own OpenAPI document is its affair
        seen[(method, path)] = inspect.iscoroutinefunction(endpoint)
    on_loop = {k for k, v in seen.items() if v}
    assert on_loop == ROUTES
    assert all(m == "GET" for m, _ in ROUTES)
    assert ("POST", "/batches/{lot}/weigh") in seen and ("POST", "/login") in seen


def test_inventory_page_two_runs_in_a_thread_page_one_on_the_loop(bench, monkeypatch):
    import threading
    from compounding.store import Store
    threads = []
    real = Store.lots
    monkeypatch.setattr(Store, "lots", lambda self, *a, **k: (
        threads.append(threading.current_thread().name), real(self, *a, **k))[1])
    c = bench["c"]
    sign_in(c, *TECH)
    assert c.get("/inventory").status_code == 200
    assert c.get("/inventory", params={"page": "2"}).status_code == 200
    assert len(threads) == 2 and threads[0] != threads[1]


@pytest.mark.parametrize("value, unit", [
    ("120", "mg"), ("0.0001", "mg"), ("1500", "mg"), ("1.50", "mg"), ("1.5", "mg"),
    ("2.5", "mL"), (0, "mg"), (12, "mL"),
])
def test_the_amount_filter_shows_what_the_cli_shows(value, unit):
    from decimal import Decimal
    from compounding.cli.inventory import show_amount
    from compounding.web.rendering import amount_filter
    amount = amount_filter(show_amount, size=2)
    for v in (value, Decimal(str(value))):
        assert amount(v, unit) == show_amount(v, unit)
        assert amount(v, unit) == show_amount(v, unit)  # from the cache (or past its size)
    assert amount(None, unit) == "-"
