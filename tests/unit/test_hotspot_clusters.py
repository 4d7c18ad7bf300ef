"""The grouping itself, on plain reports: place first, then wording."""
from __future__ import annotations

from minsheng.services.hotspot_clusters import Report, cluster, metres, problem_words

JUNK = "楼道堆满纸箱和旧家具"


def groups(reports: list[Report]) -> list[list[int]]:
    return sorted(sorted(g) for g in cluster(reports))


def test_place_words_and_numbers_are_left_out_of_the_wording():
    words = problem_words(Report(1, "clutter", "幸福里小区3号楼2单元楼道堆满杂物", "幸福里小区"))
    assert words == "楼道堆满杂物"


def test_chinese_numerals_go_with_a_unit_only():
    words = problem_words(Report(1, "clutter", "十二栋三号楼楼道一直堆杂物，两家邻居十分不满"))
    assert words == "楼道一直堆杂物 两家邻居十分不满"


def test_the_same_words_in_another_estate_or_category_are_another_hot_spot():
    reports = [Report(0, "clutter", JUNK, "幸福里"), Report(1, "clutter", JUNK, "幸福里小区"),
               Report(2, "clutter", JUNK, "阳光花园"), Report(3, "sanitation", JUNK, "幸福里")]
    assert groups(reports) == [[0, 1], [2], [3]]


def test_map_locations_group_within_the_distance_only():
    near = [Report(i, "clutter", "路边僵尸车好几个月没动", lat=38.0421 + i * 0.0003, lon=114.5103)
            for i in range(3)]
    far = Report(3, "clutter", "路边僵尸车好几个月没动", lat=38.0621, lon=114.5103)
    assert metres(near[0], near[2]) < 150 < metres(near[0], far)
    assert groups([*near, far]) == [[0, 1, 2], [3]]


def test_reports_with_neither_estate_nor_location_group_by_grid_and_no_place_is_left_out():
    reports = [Report(0, "livelihood", "路灯不亮好几天了", grid_id=7),
               Report(1, "livelihood", "路灯坏了不亮", grid_id=7),
               Report(2, "livelihood", "路灯不亮", grid_id=8),
               Report(3, "livelihood", "路灯不亮")]
    assert groups(reports) == [[0, 1], [2]]


def test_different_wording_at_one_place_stays_apart():
    reports = [Report(0, "livelihood", "电梯坏了停运三天", "阳光花园", "5号楼"),
               Report(1, "livelihood", "电梯又坏了不能用", "阳光花园", "5号楼"),
               Report(2, "livelihood", "暖气不热屋里冷", "阳光花园", "5号楼")]
    assert groups(reports) == [[0, 1], [2]]
