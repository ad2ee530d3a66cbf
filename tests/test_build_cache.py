"""The on-disk cache of objects that take seconds to build (the place gazetteer, USE's tokenizer)."""

from __future__ import annotations

from housing_kb.build_cache import cached


def test_a_built_object_is_reused_until_an_input_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("HOUSING_KB_CACHE", str(tmp_path))
    data = tmp_path / "names.yaml"
    data.write_text("Kenya: KEN\n", encoding="utf-8")
    builds = []

    def build():
        builds.append(1)
        return {"names": data.read_text(encoding="utf-8")}

    first = cached("names", ["v1", data], build)
    again = cached("names", ["v1", data], build)
    assert again == first and len(builds) == 1
    data.write_text("Kenya: KEN\nUganda: UGA\n", encoding="utf-8")  # the data changed: built anew
    assert "Uganda" in cached("names", ["v1", data], build)["names"] and len(builds) == 2
    assert cached("names", ["v2", data], build) and len(builds) == 3  # so does the code's version


def test_a_damaged_entry_is_rebuilt_and_nothing_half_written_is_left(tmp_path, monkeypatch):
    monkeypatch.setenv("HOUSING_KB_CACHE", str(tmp_path))
    cached("thing", ["v1"], lambda: [1, 2, 3])
    (entry,) = (tmp_path / "built").iterdir()
    entry.write_bytes(b"\x80\x05 not a pickle")
    assert cached("thing", ["v1"], lambda: [4]) == [4]
    assert [p.name for p in (tmp_path / "built").iterdir()] == [entry.name]


def test_the_cached_place_gazetteer_reads_places_as_the_built_one(tmp_path, monkeypatch):
    from housing_kb.text.geography import Gazetteer
    from housing_kb.text.geography.gazetteer import _built_once

    monkeypatch.setenv("HOUSING_KB_CACHE", str(tmp_path))
    built = _built_once(places=True)
    from_disk = _built_once(places=True)
    assert from_disk is not built and list((tmp_path / "built").glob("gazetteer-*.pickle"))
    for text in ("rental assistance in Virginia and 上海", "Nairobi slums", "réunion du conseil"):
        assert from_disk.find(text) == Gazetteer(places=True).find(text) == built.find(text)
