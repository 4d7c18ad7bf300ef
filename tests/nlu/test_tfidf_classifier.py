"""TfidfIntentClassifier as a Rasa graph component: train, persist, load, rank."""
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components import NumberShapeNormaliser, TfidfIntentClassifier

EXAMPLES = {
    "report_sanitation": ["垃圾桶满了没人清", "小区垃圾好几天没清运", "垃圾站臭气熏天", "路边垃圾堆成山"],
    "report_clutter": ["楼道里堆满杂物", "消防通道停满了车", "楼梯间堆着旧家具", "门口堆了好多纸箱"],
    "greet": ["你好", "您好", "早上好", "在吗"],
}


def _tokenised(texts: list[str], intent: str | None = None) -> list[Message]:
    messages = [Message(data={"text": t, **({"intent": intent} if intent else {})}) for t in texts]
    tokenizer = JiebaTokenizer(JiebaTokenizer.get_default_config(), None, None)
    tokenizer.process(messages)
    NumberShapeNormaliser().process(messages)
    return messages


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def test_it_trains_persists_loads_and_ranks_every_intent(tmp_path):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("tfidf")
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1}
    classifier = TfidfIntentClassifier.create(config, storage, resource, _context())
    training = [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]
    classifier.train(TrainingData(training))

    loaded = TfidfIntentClassifier.load(config, storage, resource, _context())
    messages = loaded.process(_tokenised(["三号楼垃圾没人清运", "楼道堆满了杂物", "你好啊"]))
    assert [m.get("intent")["name"] for m in messages] == [
        "report_sanitation", "report_clutter", "greet"]
    ranking = messages[0].get("intent_ranking")
    assert [r["name"] for r in ranking][0] == "report_sanitation"
    assert len(ranking) == 3 and abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-6
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_without_a_trained_model_it_leaves_messages_unclassified(tmp_path):
    storage = LocalModelStorage(tmp_path)
    config = TfidfIntentClassifier.get_default_config()
    classifier = TfidfIntentClassifier.load(config, storage, Resource("never-trained"), _context())
    [message] = classifier.process(_tokenised(["你好"]))
    assert message.get("intent") is None
