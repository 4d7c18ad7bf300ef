"""The extractor with the grid table's place names: aliases and landmarks are entities, and a
served extractor picks up a grid import without retraining."""
import os
from pathlib import Path

import pytest

from minsheng.place_lexicon import PlaceLexicon, PlaceName, build
from nlu.entities import extract_entities

LEXICON = PlaceLexicon([
    PlaceName("幸福里小区", "xiaoqu", "幸福里小区", ("G1",)),
    PlaceName("幸福里", "xiaoqu", "幸福里小区", ("G1",)),
    PlaceName("老纺织宿舍", "alias", "幸福里小区", ("G1",)),
    PlaceName("幸福菜市场", "landmark", "幸福菜市场", ("G1",)),
    PlaceName("育才小学", "landmark", "育才小学", ("G2",)),
])


def pairs(text, lexicon=LEXICON):
    return {(e.entity, e.value) for e in extract_entities(text, lexicon)}


def test_an_alias_is_the_estate_it_stands_for():
    assert pairs("老纺织宿舍3号楼楼道堆满了杂物") == {
        ("xiaoqu", "幸福里小区"), ("building", "3号楼")}


def test_a_landmark_is_its_own_entity_and_no_estate():
    assert pairs("幸福菜市场门口的垃圾没人清") == {("landmark", "幸福菜市场")}


def test_without_the_lexicon_the_same_words_are_no_place():
    assert pairs("老纺织宿舍门口有人打架", lexicon=None) == set()
    assert pairs("老纺织宿舍门口有人打架") == {("xiaoqu", "幸福里小区")}


def test_the_span_is_the_name_as_written():
    text = "育才小学对面，老纺织宿舍2单元"
    spans = {e.entity: text[e.start:e.end] for e in extract_entities(text, LEXICON)}
    assert spans == {"landmark": "育才小学", "xiaoqu": "老纺织宿舍", "unit": "2单元"}


def _extractor(path: Path):
    from nlu.components import MinshengEntityExtractor

    return MinshengEntityExtractor.load({**MinshengEntityExtractor.get_default_config(),
                                         "place_lexicon": str(path)}, None, None, None)


def _entities(extractor, text: str) -> dict:
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": text})
    extractor.process([message])
    return {e["entity"]: e["value"] for e in message.get("entities", [])}


def test_a_served_extractor_reads_a_grid_import_without_retraining(tmp_path):
    from minsheng import grid_import
    from minsheng.db import Database
    from minsheng.models import Base

    path = tmp_path / "place_lexicon.json"
    database = Database(f"sqlite:///{tmp_path / 'grids.db'}")
    Base.metadata.create_all(database.engine)
    extractor = _extractor(path)
    extractor._lexicon_file.check_every = 0  # the real one looks once a second
    assert _entities(extractor, "棉纺二厂门口垃圾没人清") == {}
    row = {"code": "G7", "name": "第七网格", "level": "grid", "xiaoqu": "康乐家属院",
           "buildings": "", "aliases": "棉纺二厂=康乐家属院", "landmarks": "东风菜场"}
    with database.uow() as uow:
        grid_import.import_grids(uow, [row], path)
    database.dispose()
    assert _entities(extractor, "棉纺二厂门口垃圾没人清") == {"xiaoqu": "康乐家属院"}
    assert _entities(extractor, "东风菜场门口垃圾没人清") == {"landmark": "东风菜场"}


def test_the_names_reach_jieba_and_leave_it_when_removed(tmp_path):
    import jieba

    path = tmp_path / "place_lexicon.json"
    name = "翠微东里嘉园"
    path.write_text(PlaceLexicon([PlaceName(name, "xiaoqu", name)]).to_json(), "utf-8")
    extractor = _extractor(path)
    extractor._lexicon_file.check_every = 0
    assert name in jieba.lcut(f"{name}门口")
    path.write_text(PlaceLexicon([]).to_json(), "utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime even within the filesystem's resolution
    extractor.current_lexicon()
    assert name not in jieba.lcut(f"{name}门口")


def test_training_never_reads_the_lexicon(tmp_path):
    from nlu.components import MinshengEntityExtractor

    path = tmp_path / "place_lexicon.json"
    path.write_text(PlaceLexicon([PlaceName("老纺织宿舍", "alias", "幸福里小区")]).to_json(),
                    "utf-8")
    created = MinshengEntityExtractor.create({"place_lexicon": str(path)}, None, None, None)
    assert created.current_lexicon() is None


@pytest.mark.parametrize("kind", ["xiaoqu", "alias", "landmark"])
def test_build_reads_grid_rows_of_any_kind(kind):
    from types import SimpleNamespace

    row = SimpleNamespace(code="G1", name="第一网格", level="grid", buildings=[],
                          xiaoqu=["幸福里小区"], aliases=["老纺织宿舍=幸福里小区"],
                          landmarks=["幸福菜市场"])  # a Grid row as routing and the import see it
    lexicon = build([row])
    assert {p.kind for p in lexicon.places.values()} >= {kind}


@pytest.mark.slow
def test_the_trained_model_names_an_imported_estate_by_its_alias_without_retraining(
        parser, served_lexicon_path, tmp_path):
    import time

    from minsheng import grid_import
    from minsheng.db import Database
    from minsheng.models import Base

    text = "棉纺二厂3号楼楼道里堆满了纸箱"
    before = {e["entity"]: e["value"] for e in parser.parse(text)["entities"]}
    assert before.get("xiaoqu") is None
    database = Database(f"sqlite:///{tmp_path / 'grids.db'}")
    Base.metadata.create_all(database.engine)
    row = {"code": "G7", "name": "第七网格", "level": "grid", "xiaoqu": "康乐家属院",
           "buildings": "康乐家属院:3号楼", "aliases": "棉纺二厂=康乐家属院"}
    try:
        with database.uow() as uow:
            grid_import.import_grids(uow, [row], served_lexicon_path)
        time.sleep(1.1)  # the served extractor looks at the file at most once a second
        result = parser.parse(text)
        entities = {e["entity"]: e["value"] for e in result["entities"]}
        assert (entities["xiaoqu"], entities["building"]) == ("康乐家属院", "3号楼")
        assert result["intent"]["name"] == "report_clutter"
    finally:
        served_lexicon_path.unlink()  # the other tests measure the model alone
        time.sleep(1.1)
        database.dispose()


def test_the_static_dictionary_holds_general_words_and_no_place_names():
    """Places come from the grid table; nlu/dict names none (炸街, 邻里 are no places)."""
    import re

    from minsheng.place_lexicon import GENERIC

    words = [line.split()[0] for line in
             (Path(__file__).resolve().parents[2] / "nlu" / "dict" / "minsheng.txt")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    place_like = re.compile(r".+(小区|苑|家园|花园|新村|公寓|小学|中学|菜市场|大厦|广场|路|大街)$")
    assert len(words) > 200
    assert [w for w in words if place_like.match(w) and w not in GENERIC] == []
