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
    # column-major weights: a parse must not copy them (see _store_weights_column_major)
    assert loaded.models["linear"].coef_.flags.f_contiguous
    assert loaded.models["naive_bayes"].feature_log_prob_.flags.f_contiguous
    messages = loaded.process(_tokenised(["三号楼垃圾没人清运", "楼道堆满了杂物", "你好啊"]))
    assert [m.get("intent")["name"] for m in messages] == [
        "report_sanitation", "report_clutter", "greet"]
    ranking = messages[0].get("intent_ranking")
    assert ranking[0]["name"] == "report_sanitation"
    assert len(ranking) == 3 and abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-6
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_without_a_trained_model_it_leaves_messages_unclassified(tmp_path):
    storage = LocalModelStorage(tmp_path)
    config = TfidfIntentClassifier.get_default_config()
    classifier = TfidfIntentClassifier.load(config, storage, Resource("never-trained"), _context())
    [message] = classifier.process(_tokenised(["你好"]))
    assert message.get("intent") is None


def test_letters_blend_naive_bayes_and_short_lines_use_logistic_regression_alone(tmp_path):
    import numpy as np

    storage = LocalModelStorage(tmp_path)
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
              "naive_bayes_weight": 0.7, "naive_bayes_min_chars": 12}
    classifier = TfidfIntentClassifier.create(config, storage, Resource("blend"), _context())
    training = [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]
    classifier.train(TrainingData(training))
    loaded = TfidfIntentClassifier.load(config, storage, Resource("blend"), _context())

    short, letter = _tokenised(["垃圾没人清", "尊敬的领导：我们小区的垃圾桶满了好几天没人清运，楼道门口也堆满了纸箱"])
    matrix = loaded.models["features"].transform([loaded._document(m) for m in (short, letter)])
    logistic = loaded.models["linear"].predict_proba(matrix)
    naive_bayes = loaded.models["naive_bayes"].predict_proba(matrix)
    mean = logistic[1] ** 0.3 * naive_bayes[1] ** 0.7
    assert not np.allclose(logistic[1], naive_bayes[1])  # else the blend would not show
    posteriors = loaded.posteriors([short, letter])
    assert np.allclose(posteriors[0], logistic[0])
    assert np.allclose(posteriors[1], mean / mean.sum())


def test_a_model_saved_before_the_blend_still_loads_and_ranks(tmp_path):
    import joblib
    from sklearn.pipeline import make_pipeline

    storage = LocalModelStorage(tmp_path)
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
              "naive_bayes_weight": 0.7}
    classifier = TfidfIntentClassifier.create(config, storage, Resource("old"), _context())
    training = [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]
    classifier.train(TrainingData(training))
    old_format = make_pipeline(classifier.models["features"], classifier.models["linear"])
    with storage.write_to(Resource("old")) as directory:
        joblib.dump(old_format, directory / "tfidf_intent.joblib")

    loaded = TfidfIntentClassifier.load(config, storage, Resource("old"), _context())
    [message] = loaded.process(_tokenised(["尊敬的领导：我们楼道里堆满杂物，门口也堆了好多纸箱子"]))
    assert message.get("intent")["name"] == "report_clutter"


def test_a_letter_needs_more_evidence_to_be_out_of_scope_and_a_short_line_does_not(tmp_path):
    import numpy as np

    storage = LocalModelStorage(tmp_path)
    plain = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
             "naive_bayes_weight": 0.7, "naive_bayes_min_chars": 12}
    examples = {**EXAMPLES, "out_of_scope": ["今天天气怎么样", "推荐个好看的电影", "股票能买吗", "附近哪家饭馆好吃"]}
    classifier = TfidfIntentClassifier.create(plain, storage, Resource("penalty"), _context())
    classifier.train(TrainingData(
        [m for intent, texts in examples.items() for m in _tokenised(texts, intent)]))
    penalised = {**plain, "letter_out_of_scope_penalty": 1.0}
    without = TfidfIntentClassifier.load(plain, storage, Resource("penalty"), _context())
    with_penalty = TfidfIntentClassifier.load(penalised, storage, Resource("penalty"), _context())

    messages = _tokenised(["推荐个电影", "尊敬的领导：想问问今天天气怎么样，附近哪家饭馆好吃，推荐个电影"])
    before, after = without.posteriors(messages), with_penalty.posteriors(messages)
    assert np.allclose(before[0], after[0])  # a short line is untouched
    column = list(with_penalty.models["linear"].classes_).index("out_of_scope")
    shift = np.log(after[1]) - np.log(before[1])
    others = np.delete(shift, column)
    assert np.allclose(others, others[0])  # every other intent keeps its odds against the rest
    assert np.isclose(shift[column], others[0] - 1.0)


def test_a_model_saved_with_the_logistic_key_still_loads_and_ranks(tmp_path):
    import joblib

    storage = LocalModelStorage(tmp_path)
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1}
    classifier = TfidfIntentClassifier.create(config, storage, Resource("v2"), _context())
    classifier.train(TrainingData(
        [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]))
    models = dict(classifier.models)
    models["logistic"] = models.pop("linear")
    with storage.write_to(Resource("v2")) as directory:
        joblib.dump(models, directory / "tfidf_intent.joblib")

    loaded = TfidfIntentClassifier.load(config, storage, Resource("v2"), _context())
    [message] = loaded.process(_tokenised(["楼道堆满了杂物"]))
    assert message.get("intent")["name"] == "report_clutter"


def test_a_calibrated_svm_ranks_every_intent_with_probabilities_and_column_major_weights(tmp_path):
    storage = LocalModelStorage(tmp_path)
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
              "linear_model": "calibrated_svm", "naive_bayes_weight": 0.5,
              "naive_bayes_min_chars": 12}
    classifier = TfidfIntentClassifier.create(config, storage, Resource("svm"), _context())
    classifier.train(TrainingData(
        [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]))

    loaded = TfidfIntentClassifier.load(config, storage, Resource("svm"), _context())
    folds = loaded.models["linear"].calibrated_classifiers_
    assert len(folds) == 3
    for fold in folds:
        svm = getattr(fold, "estimator", None) or fold.base_estimator
        assert svm.coef_.flags.f_contiguous
    messages = loaded.process(_tokenised(
        ["三号楼垃圾没人清运", "尊敬的领导：我们楼道里堆满了杂物，门口也堆了好多纸箱", "你好啊"]))
    assert [m.get("intent")["name"] for m in messages] == [
        "report_sanitation", "report_clutter", "greet"]
    for message in messages:
        ranking = message.get("intent_ranking")
        assert len(ranking) == 3 and abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-6


def test_character_ngrams_span_word_boundaries_only_when_asked(tmp_path):
    storage = LocalModelStorage(tmp_path)
    [corridor] = _tokenised(["楼道堆满杂物"])
    document = TfidfIntentClassifier._document(corridor)
    assert " " in document  # jieba cut it into several words

    def char_ngrams(across: bool) -> set:
        config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
                  "char_across_words": across}
        features = TfidfIntentClassifier(config, storage, Resource("f")).\
            _new_features().fit([document])
        return set(features.transformer_list[1][1].get_feature_names_out())

    spanning = {g for g in char_ngrams(True) if " " not in g and g not in
                {w[i:j] for w in document.split(" ") for i in range(len(w))
                 for j in range(i + 1, len(w) + 1)}}
    assert spanning  # e.g. 道堆: the end of one word and the start of the next
    assert not spanning & char_ngrams(False)


def test_logistic_and_svm_together_score_by_the_weighted_geometric_mean(tmp_path):
    import numpy as np

    storage = LocalModelStorage(tmp_path)
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
              "linear_model": "logistic+svm", "svm_weight": 0.4}
    classifier = TfidfIntentClassifier.create(config, storage, Resource("both"), _context())
    classifier.train(TrainingData(
        [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]))
    loaded = TfidfIntentClassifier.load(config, storage, Resource("both"), _context())

    for fold in loaded.models["second_linear"].calibrated_classifiers_:
        svm = getattr(fold, "estimator", None) or fold.base_estimator
        assert svm.coef_.flags.f_contiguous  # the SVM's weights too are made column-major
    messages = _tokenised(["垃圾没人清", "楼道堆满杂物"])
    matrix = loaded.models["features"].transform([loaded._document(m) for m in messages])
    logistic = loaded.models["linear"].predict_proba(matrix)
    svm = loaded.models["second_linear"].predict_proba(matrix)
    assert not np.allclose(logistic, svm)  # else the mean would not show
    mean = logistic ** 0.6 * svm ** 0.4
    assert np.allclose(loaded.posteriors(messages), mean / mean.sum(axis=1, keepdims=True))
    assert [m.get("intent")["name"] for m in loaded.process(messages)] == [
        "report_sanitation", "report_clutter"]


def test_length_buckets_add_one_column_per_bucket_only_when_asked(tmp_path):
    from nlu.components import LENGTH_BUCKETS, _length_buckets

    documents = ["你好", "楼道 " + "堆" * 45, "信" * 400]
    buckets = _length_buckets(documents).toarray()
    assert buckets.shape == (3, len(LENGTH_BUCKETS) + 1)
    assert buckets.sum(axis=1).tolist() == [1, 1, 1]
    assert [row.argmax() for row in buckets] == [0, 2, len(LENGTH_BUCKETS)]  # spaces not counted

    storage = LocalModelStorage(tmp_path)

    def width(with_buckets: bool) -> int:
        config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
                  "length_buckets": with_buckets}
        features = TfidfIntentClassifier(config, storage, Resource("f"))._new_features()
        return features.fit_transform(documents).shape[1]

    assert width(True) == width(False) + len(LENGTH_BUCKETS) + 1


def test_features_with_the_idf_as_an_array_equal_scikit_learns(tmp_path):
    import numpy as np

    storage = LocalModelStorage(tmp_path)
    resource = Resource("tfidf")
    config = {**TfidfIntentClassifier.get_default_config(), "char_min_df": 1,
              "length_buckets": True}  # a step that is not TF-IDF keeps its own transform
    classifier = TfidfIntentClassifier.create(config, storage, resource, _context())
    training = [m for intent, texts in EXAMPLES.items() for m in _tokenised(texts, intent)]
    classifier.train(TrainingData(training))
    loaded = TfidfIntentClassifier.load(config, storage, resource, _context())

    documents = [TfidfIntentClassifier._document(m) for m in _tokenised(
        ["三号楼垃圾没人清运，垃圾站臭气熏天", "楼道堆满了杂物和纸箱", "你好啊", "完全没见过的话"])]
    for component in (loaded, classifier):
        ours = component.features.transform(documents).toarray()
        sklearn = component.models["features"].transform(documents).toarray()
        assert ours.shape == sklearn.shape and np.count_nonzero(ours) > 20
        np.testing.assert_allclose(ours, sklearn, rtol=1e-12, atol=1e-15)
        for document, row in zip(documents, sklearn):  # one message: the path of a parse
            one = component.features.transform([document])
            assert one.shape == (1, len(row)) and one.has_sorted_indices
            np.testing.assert_allclose(one.toarray()[0], row, rtol=1e-12, atol=1e-15)
