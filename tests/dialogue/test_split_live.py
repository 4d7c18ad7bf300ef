"""Several problems in one message with the real processes: Rasa serving the trained model,
which splits the message into its problems while it parses it (nlu/split_at_parse.py), and
the action server, which offers them. Two problems become two cases, each in its own grid; a report typed while
another is being filled in is asked about and becomes a second case."""
from __future__ import annotations

import pytest

from tests.e2e.harness import (
    CASE_NO,
    add_grid_worker,
    free_port,
    minsheng_cli,
    rasa_with_actions,
    rest_turn,
    seed_grids,
    serving,
    stack_env,
)

pytestmark = pytest.mark.slow

RASA_TOKEN = "split-live-rasa-token-7621"
GRIDS = """\
- {code: "D1", name: 新华区, level: district}
- {code: "D1-S1", name: 和平街道, level: street, parent_code: "D1"}
- {code: "D1-S1-C1", name: 幸福社区, level: community, parent_code: "D1-S1", xiaoqu: [幸福里小区]}
- {code: "D1-S1-C1-G1", name: 幸福里网格, level: grid, parent_code: "D1-S1-C1",
   xiaoqu: [幸福里小区], buildings: ["幸福里小区:1号楼", "幸福里小区:2号楼"]}
- {code: "D1-S1-C1-G2", name: 幸福里北网格, level: grid, parent_code: "D1-S1-C1",
   xiaoqu: [幸福里小区], buildings: ["幸福里小区:3号楼", "幸福里小区:4号楼"]}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_model_path):
    tmp = tmp_path_factory.mktemp("split")
    actions_port, rasa_port = free_port(), free_port()
    env = stack_env(tmp, rasa_port, RASA_TOKEN)
    seed_grids(env, tmp, GRIDS)
    add_grid_worker(env, "南网格员", "南网格员", "D1-S1-C1-G1")
    add_grid_worker(env, "北网格员", "北网格员", "D1-S1-C1-G2")
    with serving(rasa_with_actions(env, tmp, trained_model_path, rasa_port,
                                   actions_port)) as services:
        yield {"rasa": f"http://127.0.0.1:{rasa_port}", "env": env, "services": services}


def say(stack, sender: str, text: str) -> str:
    replies = rest_turn(stack["rasa"], sender, text)
    return "\n".join((r.get("text") or "") + "".join(
        f"[{b['title']}]" for b in r.get("buttons") or []) for r in replies)


def cases(env) -> list[str]:
    return [line for line in minsheng_cli(env, "cases", "list").splitlines()
            if CASE_NO.search(line)]


def logs(stack) -> str:
    return "\n".join(s.tail(40) for s in stack["services"])


def test_two_problems_in_one_message_become_two_cases_in_their_own_grids(stack):
    offer = say(stack, "split-1", "幸福里小区1号楼门口的垃圾三天没人清了，另外3号楼的路灯也坏了")
    assert "您说了两个问题" in offer and "（环境卫生）" in offer and "（民生诉求）" in offer, (
        offer + logs(stack))
    assert "[分别登记][作为一件登记]" in offer
    say(stack, "split-1", '/choose_split{"choice": "separate"}')
    say(stack, "split-1", "/skip")
    summary = say(stack, "split-1", "/skip")
    assert "2 个问题" in summary and "地点：幸福里小区3号楼" in summary, summary
    done = say(stack, "split-1", "/affirm")
    numbers = CASE_NO.findall(done)
    assert "2 个问题已分别登记" in done and len(set(numbers)) == 2, done + logs(stack)
    listed = "\n".join(line for line in cases(stack["env"]) if any(n in line for n in numbers))
    assert "南网格员" in listed and "北网格员" in listed, listed


def test_a_report_typed_at_the_photo_question_is_asked_about_and_filed_apart(stack):
    first = say(stack, "split-2", "幸福里小区2号楼楼道里堆满了纸箱和旧家具")
    assert "照片" in first, first + logs(stack)
    asked = say(stack, "split-2", "还有4号楼的电梯坏了三天了没人修")
    assert "是另一个新问题，还是刚才这件事的补充" in asked, asked + logs(stack)
    again = say(stack, "split-2", '/choose_split{"choice": "new"}')
    assert "第 2 个问题" in again and "照片" in again, again
    say(stack, "split-2", "/skip")
    summary = say(stack, "split-2", "/skip")
    assert "1. 幸福里小区2号楼楼道里堆满了纸箱和旧家具（乱堆乱放）" in summary, summary
    assert "（民生诉求）地点：幸福里小区4号楼" in summary, summary
    done = say(stack, "split-2", "/affirm")
    assert len(set(CASE_NO.findall(done))) == 2, done + logs(stack)
