"""tracer.entry_points reads entry points as importlib.metadata does (it exists to keep that
module's import out of every sync's start): the same answer for every group installed here, for
hand-made layouts (shadowed distributions, egg-info folders, comments, extras), and importlib's
own answer wherever the layout is one it does not read itself."""

from __future__ import annotations

import importlib.metadata as md
import sys
import zipfile
from pathlib import Path

import pytest

from tracer import entry_points as ep


def _pairs(eps: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((e.name, e.value) for e in eps)


def _stdlib(group: str, path: list[str], monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    with monkeypatch.context() as m:
        m.setattr(sys, "path", path)
        return _pairs(list(md.entry_points(group=group)))


def test_every_installed_group_reads_the_same_as_importlib_metadata() -> None:
    groups = {e.group for d in md.distributions() for e in d.entry_points}
    assert "tracer.connectors" in groups and "console_scripts" in groups
    for g in sorted(groups):
        got = ep.scan(g)
        assert got is not None, "this venv is plain folders: read without importlib.metadata"
        assert _pairs(got) == _pairs(list(md.entry_points(group=g))), g


def _dist(root: Path, folder: str, text: str | None) -> None:
    d = root / folder
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {folder.split('-')[0].split('.')[0]}\nVersion: 1\n")
    if text is not None:
        (d / "entry_points.txt").write_text(text)


def test_hand_made_layouts_read_the_same_as_importlib_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _dist(a, "alpha_plug-1.0.dist-info", "# a comment\n[tracer.connectors]\n  one = alpha.mod:One [extra]\n"
                                          "two=alpha.mod:Deep.Two\n\n# another\n[console_scripts]\nalpha = alpha:main\n")
    _dist(a, "Beta.Plug-2.0.dist-info", "[other]\nx = y\n")
    _dist(a, "gamma.egg-info", "[tracer.connectors]\nthree = gamma\n")
    _dist(a, "delta-0.1.dist-info", None)  # no entry_points.txt
    # shadowed: the first distribution of a (normalized) name on the path wins
    _dist(b, "alpha.plug-9.0.dist-info", "[tracer.connectors]\nshadowed = nope:Nope\n")
    _dist(b, "beta_plug-1.0.dist-info", "[tracer.connectors]\nshadowed2 = nope:Nope\n")
    _dist(b, "epsilon-1.0.dist-info", "[tracer.connectors]\nfour = eps.m:Four\n")
    path = [str(a), str(tmp_path / "missing"), str(b)]
    for group in ("tracer.connectors", "console_scripts", "other", "none.here"):
        got = ep.scan(group, path)
        assert got is not None
        assert _pairs(got) == _stdlib(group, path, monkeypatch), group
    assert _pairs(ep.scan("tracer.connectors", path) or []) == [
        ("four", "eps.m:Four"), ("one", "alpha.mod:One [extra]"), ("three", "gamma"), ("two", "alpha.mod:Deep.Two")]
    two = next(e for e in ep.scan("tracer.connectors", path) or [] if e.name == "two")
    assert (two.module, two.attr) == ("alpha.mod", "Deep.Two")


def test_layouts_it_does_not_read_go_to_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = tmp_path / "a"
    _dist(a, "alpha-1.0.dist-info", "[tracer.connectors]\none = alpha:One\n")
    z = tmp_path / "plug.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("zeta-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zeta\nVersion: 1\n")
        f.writestr("zeta-1.0.dist-info/entry_points.txt", "[tracer.connectors]\nzed = zeta:Zed\n")
    assert ep.scan("tracer.connectors", [str(a), str(z)]) is None  # a zip on the path
    old = tmp_path / "old"
    old.mkdir()
    (old / "legacy.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\n")
    assert ep.scan("tracer.connectors", [str(a), str(old)]) is None  # an .egg-info file
    assert ep.scan("tracer.connectors", [str(tmp_path / "x.egg")]) is None
    monkeypatch.setattr(sys, "path", [str(a), str(z)])
    assert _pairs(ep.entry_points("tracer.connectors")) == [("one", "alpha:One"), ("zed", "zeta:Zed")]


def test_a_finder_that_knows_other_distributions_sends_it_to_importlib_metadata(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Finder:
        def find_spec(self, *a: object) -> None:
            return None

        def find_distributions(self, *a: object) -> list[object]:
            return []

    assert ep._plain_path_finders()
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    assert not ep._plain_path_finders()
    monkeypatch.setattr(ep, "scan", lambda *a: pytest.fail("scanned despite the finder"))
    assert "evm" in {e.name for e in ep.entry_points("tracer.connectors")}


def test_the_registry_loads_connectors_through_it() -> None:
    from connectors.evm.connector import EvmConnector
    from tracer import registry

    registry._entry_points.cache_clear()
    try:
        found = registry._entry_points()
        assert isinstance(found["evm"], ep.Entry) and found["evm"].load() is EvmConnector
        assert registry.names() == sorted(e.name for e in md.entry_points(group=registry.GROUP))
    finally:
        registry._entry_points.cache_clear()
