"""nlu/graph_runner.py: the trained model's graph run node after node gives what Rasa's
dask runner gives, for the NLU and for the policies."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.channels import UserMessage
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.engine.exceptions import GraphRunError
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from nlu.evaluation import read_eval_tsv
from nlu.graph_runner import InOrderGraphRunner

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["你好", "3号楼楼道里堆满了纸箱", "/affirm", "楼上天天装修吵得睡不着，谁来管管",
         "小区门口的垃圾三天没人清了，另外3号楼的路灯也坏了", ""]


@pytest.fixture(scope="module")
def runners(parser):
    processor = parser._agent.processor
    dask = processor.graph_runner
    ours = object.__new__(InOrderGraphRunner)
    ours.__dict__.update(dask.__dict__)  # the same nodes, loaded once
    return processor, dask, ours


def _nlu(runner, processor, text: str) -> list[dict]:
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker("t", processor.domain.slots)
    result = runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(text, message_id="m")],
                                PLACEHOLDER_TRACKER: tracker}, targets=[target])
    assert list(result) == [target]
    return [{key: [(t.text, t.start, t.end) for t in value] if key.endswith("_tokens")
             else value for key, value in m.as_dict().items()} for m in result[target]]


def test_nlu_results_are_rasas(runners):
    processor, dask, ours = runners
    texts = TEXTS + [e.text for e in read_eval_tsv(ROOT / "tests/nlu/dev_chat.tsv")[:40]]
    for text in texts:
        assert _nlu(ours, processor, text) == _nlu(dask, processor, text), text


def test_policy_predictions_are_rasas(runners):
    processor, dask, ours = runners
    target = processor.model_metadata.core_target
    for text in TEXTS[:5]:
        parsed = asyncio.run(processor.parse_message(UserMessage(text)))
        events = [ActionExecuted("action_listen"), UserUttered(text, parsed["intent"],
                                                               parsed["entities"], parsed)]
        results = []
        for runner in (dask, ours):
            tracker = DialogueStateTracker.from_events("t", events, processor.domain.slots)
            results.append(runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[target]))
        assert results[0] == results[1] and results[0][target].probabilities, text


def test_an_input_named_like_a_node_is_refused_as_rasa_refuses_it(runners):
    processor, dask, ours = runners
    target = processor.model_metadata.nlu_target
    for runner in (dask, ours):
        with pytest.raises(GraphRunError, match="clashes with a node name"):
            runner.run(inputs={PLACEHOLDER_MESSAGE: target}, targets=[target])
