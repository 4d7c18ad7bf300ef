"""Place names from the grid table: the lexicon, the import that writes it, and routing by
an estate alias or a landmark alone."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import select, update

from minsheng import grid_import
from minsheng.errors import InvalidInput
from minsheng.models import Case, Grid
from minsheng.place_lexicon import (
    ALIAS,
    ESTATE,
    LANDMARK,
    STREET,
    LexiconFile,
    PlaceLexicon,
    build,
    refresh,
)
from minsheng.places import Place
from minsheng.services import routing
from minsheng.services.cases import open_case
from tests.factories import T0, report


@pytest.fixture
def named(db, world):
    """G1 knows the estate's old name and the market; G2 the school and the road."""
    with db.uow() as uow:
        uow.session.execute(update(Grid).where(Grid.code == "G1").values(
            aliases=["老纺织宿舍=幸福里小区"], landmarks=["幸福菜市场"]))
        uow.session.execute(update(Grid).where(Grid.code == "G2").values(
            aliases=["阳光老院=阳光花园"], landmarks=["实验小学", "建设路"]))
        uow.commit()
    return world


def lexicon_of(db) -> PlaceLexicon:
    with db.uow() as uow:
        return build(uow.session.execute(select(Grid).order_by(Grid.id)).scalars())


def route(db, place=None, address=None):
    with db.uow() as uow:
        found = routing.route(uow, place, None, None, "clutter", address=address)
        return (found.grid.code if found.grid else None), found.matched_by


def test_the_lexicon_holds_estates_aliases_landmarks_and_street_names(db, named):
    lexicon = lexicon_of(db)
    kinds = {name: (p.kind, p.value) for name, p in lexicon.places.items()}
    assert kinds["幸福里小区"] == (ESTATE, "幸福里小区")
    assert kinds["幸福里"][0] == ESTATE
    assert kinds["老纺织宿舍"] == (ALIAS, "幸福里小区")
    assert kinds["实验小学"] == (LANDMARK, "实验小学")
    assert kinds["和平街道"] == (STREET, "和平街道")
    assert lexicon.places["幸福菜市场"].grids == ("G1",)


def test_find_prefers_the_longest_name_and_skips_street_offices(db, named):
    hits = lexicon_of(db).find("和平街道幸福里小区门口和建设路上")
    assert [(h.place.name, h.place.kind) for h in hits] == [
        ("幸福里小区", ESTATE), ("建设路", LANDMARK)]


def test_an_estate_named_by_its_alias_is_routed_like_the_estate(db, named):
    assert route(db, Place("老纺织宿舍", "2号楼")) == ("G1", "building")
    assert route(db, Place("阳光老院")) == ("G2", "xiaoqu")


@pytest.mark.parametrize(("address", "grid", "how"), [
    ("幸福菜市场门口", "G1", "landmark"),
    ("实验小学东门对面", "G2", "landmark"),
    ("建设路上", "G2", "landmark"),
    ("老纺织宿舍那边", "C1", "xiaoqu"),  # the estate is shared by two grids: the community
    ("老纺织宿舍5号楼", "G2", "building"),
    ("人民公园", "C1", "desk"),  # unknown: the community desk, as before
])
def test_a_place_named_only_in_the_address_is_routed_by_the_grid_tables_names(
        db, named, address, grid, how):
    assert route(db, None, address) == (grid, how)


def test_without_the_names_the_same_address_goes_to_the_desk(db, world):
    assert route(db, None, "幸福菜市场门口") == ("C1", "desk")


def test_a_case_opened_with_only_a_landmark_is_assigned_to_that_grid(db, named):
    with db.uow() as uow:
        result = open_case(uow, report("market", place=None, address="幸福菜市场门口",
                                       description="菜市场门口垃圾堆成山"), now=T0)
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == result.case_no)).scalar_one()
        assert uow.session.get(Grid, case.grid_id).code == "G1"


def test_a_landmark_two_grids_list_goes_to_the_community_above_them(db, named):
    with db.uow() as uow:
        uow.session.execute(update(Grid).where(Grid.code == "G2").values(
            landmarks=["幸福菜市场"]))
        uow.commit()
    assert route(db, None, "幸福菜市场") == ("C1", "landmark")


ROWS = [
    {"code": "G9", "name": "第九网格", "level": "grid", "parent_code": "C1",
     "xiaoqu": "康乐苑", "buildings": "康乐苑:1号楼;康乐苑:综合楼", "lat": "", "lon": "",
     "aliases": "老棉纺厂=康乐苑；康乐=康乐苑", "landmarks": "东风菜市场;育才小学"},
]


def test_grid_import_writes_the_lexicon_that_routing_and_the_nlu_read(db, world, tmp_path):
    path = tmp_path / "lexicon.json"
    with db.uow() as uow:
        assert grid_import.import_grids(uow, ROWS, path) == (1, 0)
    on_disk = PlaceLexicon.from_json(path.read_text(encoding="utf-8"))
    assert on_disk.places["老棉纺厂"].value == "康乐苑"
    assert on_disk.places["育才小学"].grids == ("G9",)
    assert on_disk.places["综合楼"].kind == "building"
    assert on_disk.places["幸福里小区"].kind == ESTATE  # the rest of the table too
    assert route(db, None, "老棉纺厂门口") == ("G9", "xiaoqu")
    assert route(db, None, "育才小学旁边") == ("G9", "landmark")


def test_a_grid_saved_without_the_new_columns_keeps_its_aliases_and_landmarks(db, world):
    with db.uow() as uow:
        grid_import.import_grids(uow, ROWS)
    plain = {k: v for k, v in ROWS[0].items() if k not in ("aliases", "landmarks")}
    with db.uow() as uow:
        grid_import.import_grids(uow, [{**plain, "name": "第九网格（新）"}])
    with db.uow() as uow:
        grid = uow.session.execute(select(Grid).where(Grid.code == "G9")).scalar_one()
        assert (grid.name, grid.landmarks) == ("第九网格（新）", ["东风菜市场", "育才小学"])
        assert grid.aliases == ["老棉纺厂=康乐苑", "康乐=康乐苑"]


def test_an_alias_without_its_estate_is_refused_in_chinese(db, world):
    with db.uow() as uow, pytest.raises(InvalidInput, match="别名=小区"):
        grid_import.import_grids(uow, [{**ROWS[0], "aliases": "老棉纺厂"}])


def test_the_lexicon_file_is_read_again_when_it_changes(db, named, tmp_path):
    path = tmp_path / "lexicon.json"
    reader = LexiconFile(path, check_every=0)
    assert len(reader.current()) == 0  # no file yet: rules only
    with db.uow() as uow:
        refresh(uow.session, path)
    first = reader.current()
    assert "幸福菜市场" in first.places and reader.current() is first  # unchanged: not re-read
    with db.uow() as uow:
        grid_import.import_grids(uow, ROWS, path)
    os.utime(path, ns=(1, 1))  # a different mtime even within the filesystem's resolution
    assert "育才小学" in reader.current().places


def test_minsheng_grid_import_reads_the_new_csv_columns_and_writes_the_file(db, world,
                                                                              tmp_path, capsys):
    from minsheng.cli_commands import grid_import as grid_import_command
    from minsheng.settings import Settings

    csv_file = tmp_path / "grids.csv"
    csv_file.write_text(
        "code,name,level,parent_code,xiaoqu,buildings,lat,lon,aliases,landmarks\n"
        "G9,第九网格,grid,C1,康乐苑,康乐苑:1号楼,,,老棉纺厂=康乐苑,东风菜市场；育才小学\n",
        encoding="utf-8")
    settings = Settings(place_lexicon_path=tmp_path / "var" / "lexicon.json", _env_file=None)
    assert grid_import_command(db, settings, str(csv_file)) == 0
    assert "新增 1 个网格" in capsys.readouterr().out
    written = PlaceLexicon.from_json(settings.place_lexicon_path.read_text(encoding="utf-8"))
    assert written.places["东风菜市场"].grids == ("G9",)
    assert written.places["老棉纺厂"].value == "康乐苑"


def test_a_generic_word_left_by_shortening_an_estate_name_is_no_place():
    from types import SimpleNamespace

    row = SimpleNamespace(code="G5", name="第五网格", level="grid", buildings=[],
                          xiaoqu=["花园小区"], aliases=[], landmarks=[])
    lexicon = build([row])
    assert "花园小区" in lexicon.places and "花园" not in lexicon.places
    assert [h.place.name for h in lexicon.find("公园旁边的花园里")] == []
