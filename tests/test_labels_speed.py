"""Issue 18, the fixed cost of a print command: the on-disk cache (font tables, validated
template and settings files) gives the same results as doing the work, ignores damaged
entries and works without a writable folder."""

from __future__ import annotations

import os
import stat

import pytest

from compounding import cache
from compounding.labeling import fonts


def _font_state(font):
    face = {k: v for k, v in vars(font.face).items() if k != "_pdfScale"}
    own = {k: v for k, v in vars(font).items() if k not in ("face", "state", "encoding")}
    own["encoding"] = vars(font.encoding)
    return face, own, [font.face._pdfScale(x) for x in (1, 123.0, 2048)]


@pytest.mark.parametrize("name", sorted(fonts.FILES))
def test_a_font_read_from_the_cache_equals_the_parsed_font(name, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    path = fonts.FONT_DIR / fonts.FILES[name]
    data = path.read_bytes()
    assert fonts._cached_font(name, path, data) is None  # cold
    parsed = fonts._parse_font(name, path, data)
    again = fonts._cached_font(name, path, data)
    assert again is not None
    assert _font_state(again) == _font_state(parsed)
    for k in fonts._NAME_ATTRS:
        assert getattr(again.face, k).ustr == getattr(parsed.face, k).ustr
    assert again.stringWidth("Zoë Nguyễn 0.1 mcg", 9) == parsed.stringWidth("Zoë Nguyễn 0.1 mcg", 9)


def test_a_damaged_cache_entry_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    k = cache.key("x", b"source")
    assert cache.save("font", k, b"payload")
    assert cache.load("font", k) == b"payload"
    f = next(tmp_path.iterdir())
    whole = f.read_bytes()
    for damaged in (whole[:-1], whole[:10], b"", whole[:-7] + b"PAYLOAD", whole + b"x"):
        f.write_bytes(damaged)
        assert cache.load("font", k) is None
    name = fonts.REGULAR
    path = fonts.FONT_DIR / fonts.FILES[name]
    data = path.read_bytes()
    fonts._parse_font(name, path, data)
    entry = tmp_path / f"font-{fonts._font_key(data)}.bin"
    entry.write_bytes(entry.read_bytes()[:5000])  # truncated (a kill during a copy)
    assert fonts._cached_font(name, path, data) is None


def test_no_cache_when_the_folder_cannot_be_written(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv(cache.ENV_VAR, str(ro / "sub"))
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions do not stop us
            pytest.skip("the folder is writable for this user")
        assert cache.save("font", cache.key("a"), b"x") is False
        assert cache.load("font", cache.key("a")) is None
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(stat.S_IRWXU)


def test_cache_folder_order(tmp_path):
    assert cache.cache_dir({cache.ENV_VAR: "/a", "XDG_CACHE_HOME": "/b"}) == cache.Path("/a")
    assert cache.cache_dir({"XDG_CACHE_HOME": "/b"}) == cache.Path("/b/compounding")


# ---------------------------------------------------------------- templates and settings

def test_a_template_read_from_the_cache_equals_the_validated_one(tmp_path, monkeypatch):
    from compounding.labeling import templates as T
    from compounding.labeling.template_specs import LabelTemplateSpec
    from compounding.spec_files import read_toml

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    for path in sorted((T.Path(__file__).parent.parent / "templates").glob("*.toml")):
        cold, sha_cold = T.load_template(path)
        assert len(list(tmp_path.glob("template-*.bin"))) >= 1
        warm, sha_warm = T.load_template(path)
        spec = LabelTemplateSpec.model_validate(read_toml(path)[0])
        assert cold == warm and sha_cold == sha_warm
        assert warm.model_dump() == spec.model_dump(mode="json")
        assert warm.dot == spec.dot and warm.summary() == spec.summary()
        assert warm.stock.page_size == spec.stock.page_size
        assert [warm.stock.position(i) for i in range(warm.stock.per_page)] == \
            [spec.stock.position(i) for i in range(spec.stock.per_page)]
        with pytest.raises(AttributeError):
            warm.dpi = 300


def test_an_invalid_template_is_refused_every_time_and_never_cached(tmp_path, monkeypatch):
    from compounding.errors import SpecError
    from compounding.labeling import templates as T

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "cache"))
    good = (T.Path(__file__).parent.parent / "templates" / "batch-thermal.toml").read_text()
    path = tmp_path / "batch-thermal.toml"
    path.write_text(good)
    T.load_template(path)
    path.write_text(good.replace("dpi = 203", "dpi = 100"))  # the same name, edited
    for _ in range(2):
        with pytest.raises(SpecError, match="dpi"):
            T.load_template(path)
    # a damaged entry for the good bytes is ignored, not trusted
    path.write_text(good)
    for f in (tmp_path / "cache").glob("template-*.bin"):
        f.write_bytes(f.read_bytes()[:-3] + b"}}}")
    t, _ = T.load_template(path)
    assert t.dpi == 203


def test_label_settings_from_the_cache_equal_the_validated_settings(tmp_path, monkeypatch):
    from compounding.errors import SpecError
    from compounding.label_settings import load_label_settings
    from compounding.settings import load_settings

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "cache"))
    path = tmp_path / "pharmacy.toml"
    path.write_text('compounded_statement = "Compounded by us"\nbud_warning_days = 3\n[pharmacy]\nname = "Zoë\'s"\n'
                    'address = "1 Rue Ω"\nphone = "555"\n[gtins]\nldn-capsules = "0312345678906"\n')
    for _ in range(2):  # cold, then from the cache
        ls = load_label_settings(path)
        s = load_settings(path)
        assert (ls.pharmacy.name, ls.pharmacy.address, ls.pharmacy.phone) == \
            (s.pharmacy.name, s.pharmacy.address, s.pharmacy.phone)
        assert ls.compounded_statement == s.compounded_statement
        assert dict(ls.gtins) == s.gtins == {"ldn-capsules": "00312345678906"}
        assert ls.bud_warning_days == s.bud_warning_days == 3
        assert dict(ls.template_printers) == s.template_printers == {}
        assert ls.max_dilution_ratio == s.max_dilution_ratio  # any other: the full settings
    assert load_label_settings(None).pharmacy.name == load_settings(None).pharmacy.name
    path.write_text(path.read_text().replace("0312345678906", "0312345678907"))
    for _ in range(2):
        with pytest.raises(SpecError, match="check digit"):
            load_label_settings(path)
    with pytest.raises(SpecError, match="not found"):
        load_label_settings(tmp_path / "missing.toml")


@pytest.mark.parametrize("formula_id", ["ldn-capsules", "ldn-oral-liquid",
                                        "ldn-sublingual-drops", "ldn-cream"])
def test_label_from_a_stored_snapshot_equals_label_from_the_formula(formula_id):
    """from_batch reads the stored formula snapshot without pydantic: the same label."""
    from test_labels_support import BUD, LOT, ORDERS, registry, settings

    from compounding import units as u
    from compounding.labeling.content import from_batch, label_data

    f = registry().get(formula_id)
    strength, quantity, _ = ORDERS[formula_id]
    for storage in f.storage.conditions:
        batch = {"formula_snapshot": f.spec_json(), "strength": u.fmt(strength),
                 "quantity": u.fmt(quantity), "lot_id": LOT, "bud": BUD.isoformat(),
                 "storage": storage, "plan": {}, "components": [], "catalogue_snapshot": {}}
        assert from_batch(batch, settings(True)) == label_data(
            f, settings(True), strength=strength, quantity=quantity, lot=LOT, bud=BUD,
            storage=storage)


def test_a_broken_snapshot_is_refused_by_name():
    from compounding.errors import LabelError
    from compounding.labeling.content import _SnapshotFormula

    with pytest.raises(LabelError, match="formula_snapshot: the batch's stored formula lacks"):
        _SnapshotFormula({"id": "x", "name": "y", "dosage_form": "capsule"})
_LOAD = """
import sys
from compounding.labeling.fonts import register
from compounding.labeling.templates import load_templates
register()
ts = load_templates(sys.argv[1])
print(sorted((t, h) for t, h in ts.hashes.items()))
"""


def test_processes_racing_on_a_cold_cache_agree_and_a_killed_one_leaves_no_entry(tmp_path,
                                                                                 monkeypatch):
    """Four real processes fill one empty cache folder at once, a fifth is killed with
    SIGKILL while it works: every survivor reads the same templates, and every entry left in
    the folder is whole (its digest checks)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "cache"
    env = dict(os.environ, **{cache.ENV_VAR: str(folder)})
    templates_dir = str(Path(__file__).parent.parent / "templates")
    procs = [subprocess.Popen([sys.executable, "-c", _LOAD, templates_dir], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(5)]
    procs[-1].send_signal(signal.SIGKILL)
    outs = [p.communicate(timeout=120)[0] for p in procs[:4]]
    procs[-1].wait(timeout=60)
    assert all(p.returncode == 0 for p in procs[:4])
    assert len(set(outs)) == 1 and outs[0].startswith("[(")
    monkeypatch.setenv(cache.ENV_VAR, str(folder))
    entries = [f for f in folder.iterdir() if not f.name.startswith(".")]
    assert entries
    for f in entries:
        kind, _, rest = f.name.partition("-")
        if kind == "label":
            kind, _, rest = "label-settings", None, rest.partition("-")[2]
        assert cache.load(kind, rest[:-len(".bin")]) is not None, f.name


def test_opening_the_store_loads_no_sqlite_utils_plugins(tmp_path):
    """sqlite-utils scans every installed distribution's entry points for plugins when a
    Database is made without execute_plugins=False (about half of `import click` in time);
    the store never uses plugins, so opening it (new file and existing file) must not."""
    import subprocess
    import sys

    code = ("import sys\nfrom compounding.store import Store\n"
            "for _ in range(2):\n    Store.open(sys.argv[1]).close()\n"
            "from sqlite_utils import plugins\nprint(plugins._plugins_loaded)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.db")],
                         capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout, out.stderr) == (0, "False\n", "")
