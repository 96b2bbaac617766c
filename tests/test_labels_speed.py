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
