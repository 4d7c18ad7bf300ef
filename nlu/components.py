"""Custom Rasa graph components (referenced from config.yml as ``nlu.components.<Name>``)."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.decision import OUT_OF_SCOPE
from nlu.entities import extract_entities, find_phones

PHONE_SHAPE = "手机号码"
_DIGITS = re.compile(r"[0-9０-９]+")


def token_shape(text: str, inside_phone: bool) -> str:
    """What the featurizers see of a token: a phone number is one word, other digits are '0'.

    Numbers in letters (years, house numbers, district codes like K11) otherwise look like
    the digit-only examples of provide_phone.
    """
    return PHONE_SHAPE if inside_phone else _DIGITS.sub("0", text)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class MinshengEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Place parts (xiaoqu, building, unit, room, landmark), phone and time by rules, values
    normalised.

    A served model also reads the grid table's place names from ``place_lexicon``
    (default: settings.place_lexicon_path), re-read whenever the file changes, and gives
    them to jieba, so estates imported after training are recognised and kept whole. Training
    never reads it: a model does not depend on the grid table of the machine it was trained on.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"entities": ["xiaoqu", "building", "unit", "room", "landmark", "phone", "time"],
                "place_lexicon": None}

    def __init__(self, config: Dict[Text, Any], lexicon_file: Any = None) -> None:
        self._wanted = set(config.get("entities") or [])
        self._lexicon_file = lexicon_file
        self._lexicon = None
        self._jieba_words: set = set()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MinshengEntityExtractor":
        return cls(config)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "MinshengEntityExtractor":
        from minsheng.place_lexicon import LexiconFile

        path = config.get("place_lexicon")
        if not path:
            from minsheng.settings import Settings

            path = Settings().place_lexicon_path  # no secrets needed here: not load_settings
        extractor = cls(config, LexiconFile(path))
        extractor.current_lexicon()
        return extractor

    def current_lexicon(self) -> Any:
        """The lexicon file's names; a changed file also changes jieba's dictionary."""
        if self._lexicon_file is None:
            return None
        lexicon = self._lexicon_file.current()
        if lexicon is not self._lexicon:
            self._lexicon = lexicon
            self._feed_jieba(set(lexicon.words()))
        return lexicon

    def _feed_jieba(self, words: set) -> None:
        import jieba

        for word in self._jieba_words - words:
            jieba.del_word(word)
        for word in words - self._jieba_words:
            jieba.add_word(word, freq=2000, tag="ns")
        self._jieba_words = words

    def process(self, messages: List[Message]) -> List[Message]:
        lexicon = self.current_lexicon()
        for message in messages:
            text = message.get(TEXT) or ""
            found = [e.as_dict() for e in extract_entities(text, lexicon)
                     if e.entity in self._wanted]
            for entity in found:
                entity["confidence_entity"] = 1.0
            if found:
                entities = message.get(ENTITIES, []) + self.add_extractor_name(found)
                message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class NumberShapeNormaliser(GraphComponent):
    """Sets each token's lemma (what CountVectorsFeaturizer reads) to ``token_shape``.

    Place it after the tokenizer and before the featurizers.
    """

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "NumberShapeNormaliser":
        return cls()

    def _normalise(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return
        phones = [(p.start, p.end) for p in find_phones(message.get(TEXT) or "")]
        for token in tokens:
            inside = any(start < token.end and token.start < end for start, end in phones)
            token.lemma = token_shape(token.text, inside)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalise(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalise(message)
        return training_data


def _split_on_spaces(text: str) -> List[str]:
    # Module level so the fitted vectorizer can be pickled.
    return text.split(" ")


def _without_spaces(text: str) -> str:
    """The lemmas run together, so character n-grams also span word boundaries (jieba cuts
    楼道里 | 堆满 | 杂物 differently from one letter to the next; 道里堆 is the same)."""
    return text.replace(" ", "")


LENGTH_BUCKETS = (20, 40, 80, 160, 320)  # characters; a letter of 400 is in the last bucket


def _length_buckets(documents: list[str]) -> Any:
    """One-hot length bucket of each document (lemmas without spaces): lets the linear
    model learn how much a message's length says (chat lines vs letters) apart from its words."""
    import numpy as np
    from scipy.sparse import csr_matrix

    lengths = [len(_without_spaces(d)) for d in documents]
    columns = np.searchsorted(LENGTH_BUCKETS, lengths, side="right")
    rows = np.arange(len(documents))
    return csr_matrix((np.ones(len(documents)), (rows, columns)),
                      shape=(len(documents), len(LENGTH_BUCKETS) + 1))


def _weight_holders(models: Dict[str, Any]) -> List[tuple]:
    """(estimator, attribute) of every weight matrix a parse multiplies by."""
    holders = []
    for linear in (models.get("linear"), models.get("second_linear")):
        for calibrated in getattr(linear, "calibrated_classifiers_", []):
            holders.append((getattr(calibrated, "estimator", None)
                            or calibrated.base_estimator, "coef_"))
        if linear is not None and hasattr(linear, "coef_"):
            holders.append((linear, "coef_"))
    if "naive_bayes" in models:
        holders.append((models["naive_bayes"], "feature_log_prob_"))
    return holders


def _store_weights_column_major(models: Dict[str, Any]) -> None:
    """Scoring multiplies a sparse row by the transposed weights; row-major weights make
    scipy copy all of them (27 MB) on every parse: 4 ms instead of 0.04 ms."""
    import numpy as np

    for estimator, attribute in _weight_holders(models):
        setattr(estimator, attribute, np.asfortranarray(getattr(estimator, attribute)))


class IdfArrayFeatures:
    """The ``transform`` of a fitted union of TF-IDF vectorizers, with each idf as an array.

    scikit-learn 1.1 (the release Rasa 3.6 pins) stores the idf as an n×n sparse diagonal: every
    transform rebuilds ``idf_`` from it (``check_is_fitted``) and multiplies by it, work in
    proportion to the vocabulary (190,000 n-grams here), not to the message — most of a
    1.25 ms transform (0.43 ms here). The arithmetic is the same, each count scaled by its
    idf; only a row's norm may differ in the last bit, summed in column order where
    scikit-learn's product leaves the columns unsorted. The fitted objects are only read, so
    the model's file keeps plain scikit-learn objects.
    """

    def __init__(self, union: Any) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.steps = []  # (step, idf array or None: the step's own transform)
        if not hasattr(union, "transformer_list"):  # a model saved before the union
            self.steps.append((union, None))
            return
        for _, step in union.transformer_list:
            tfidf = getattr(step, "_tfidf", None)
            fast = isinstance(step, TfidfVectorizer) and tfidf is not None and tfidf.use_idf
            self.steps.append((step, np.asarray(tfidf.idf_, dtype=np.float64) if fast else None))

    def transform(self, documents: list[str]) -> Any:
        import scipy.sparse as sp

        if len(self.steps) == 1 and self.steps[0][1] is None:
            return self.steps[0][0].transform(documents)
        blocks = [self._block(step, idf, documents) for step, idf in self.steps]
        if len(documents) == 1:
            return self._one_row(blocks)
        return sp.hstack(blocks).tocsr()  # as FeatureUnion joins its parts

    @staticmethod
    def _block(step: Any, idf: Any, documents: list[str]) -> Any:
        """One step's rows: counts, sublinear, times the idf, each row scaled to unit length
        — scikit-learn's arithmetic on the CSR arrays themselves, without its per-call
        checks and copies (a third of a parse, stop 19)."""
        import numpy as np
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        if idf is None:
            return step.transform(documents).tocsr()
        counts = CountVectorizer.transform(step, documents)
        data = counts.data.astype(np.float64)
        if step.sublinear_tf:
            np.log(data, out=data)
            data += 1
        data *= idf[counts.indices]
        counts.data = data
        if step.norm == "l2":
            rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
            norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=counts.shape[0]))
            norms[norms == 0.0] = 1.0
            data /= norms[rows]
        elif step.norm:
            counts = normalize(counts, norm=step.norm, copy=False)
        return counts

    @staticmethod
    def _one_row(blocks: list[Any]) -> Any:
        """The blocks of one message side by side: ``hstack`` without scipy's general
        block assembly (its ``bmat`` was a sixth of a parse)."""
        import numpy as np
        import scipy.sparse as sp

        offsets = np.cumsum([0] + [block.shape[1] for block in blocks])
        data = np.concatenate([block.data for block in blocks])
        indices = np.concatenate([block.indices.astype(np.int64) + offset
                                  for block, offset in zip(blocks, offsets)])
        width = int(offsets[-1])
        index_type = np.int32 if width < np.iinfo(np.int32).max else np.int64
        return sp.csr_matrix((data, indices.astype(index_type),
                              np.array([0, len(data)], dtype=index_type)), shape=(1, width))


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Intent from TF-IDF weighted word and character n-grams: a linear model, and for
    letters a blend with complement naive Bayes.

    The inverse document frequency discounts what every letter says (尊敬的领导, 小区, 反映)
    and weights what tells the categories apart, which DIET without transformer layers does
    not learn from ~5,000 examples. The linear model (``linear_model``: logistic regression,
    or a linear SVM whose margins a sigmoid calibration turns into probabilities — as good on
    our cross-validation and dev sets and ten times faster to train) reads short chat lines
    best; on long letters it leans on a few phrasings of our own training letters, while naive
    Bayes adds up the evidence of every word and carries over better to letters written by
    others. So a message of at least ``naive_bayes_min_chars`` characters is scored by the
    weighted geometric mean of the two models' posteriors (weight ``naive_bayes_weight`` on
    naive Bayes), a shorter one by the linear model alone.

    A letter's ``out_of_scope`` log-score is then lowered by ``letter_out_of_scope_penalty``:
    a complaint read as out of scope is turned away, the worst mistake this service can make,
    while an unrelated letter read as a report costs the resident a tap. A penalty of ln 2
    asks for twice the odds before a letter is called out of scope. Short
    lines keep their plain posteriors: chit-chat must still be chit-chat.

    Reads the token lemmas, so run it after the tokenizer and NumberShapeNormaliser.
    """

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "joblib"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "word_ngram_range": [1, 2],
            "char_ngram_range": [1, 3],
            "char_min_df": 2,
            "char_across_words": False,  # True: character n-grams also span word boundaries
            "length_buckets": False,  # True: a one-hot length bucket joins the features
            # "logistic", "calibrated_svm" (LinearSVC, sigmoid-calibrated) or "logistic+svm":
            # both, their posteriors' geometric mean with weight svm_weight on the SVM
            "linear_model": "logistic",
            "svm_weight": 0.5,
            "C": 30.0,  # weak regularisation: sublinear TF-IDF rows are already unit length
            "svm_C": 1.0,
            "calibration_folds": 3,
            "class_weight": None,  # or "balanced"
            "max_iter": 3000,
            "naive_bayes_alpha": 0.3,
            "naive_bayes_weight": 0.0,  # 0: the linear model only
            "naive_bayes_min_chars": 40,
            "letter_out_of_scope_penalty": 0.0,  # log-odds; letters only
            "ranking_length": 10,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, models: Dict[str, Any] | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.models = models  # {"features": …, "linear": …, "naive_bayes": …}
        if models:
            _store_weights_column_major(models)
        self.features = IdfArrayFeatures(models["features"]) if models else None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext
               ) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def _document(message: Message) -> str:
        """The message as space-separated token lemmas (digits already shaped)."""
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        return " ".join((t.lemma or t.text).lower() for t in tokens if (t.lemma or t.text).strip())

    def _new_features(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_union

        words = TfidfVectorizer(analyzer="word", tokenizer=_split_on_spaces, token_pattern=None,
                                lowercase=False, sublinear_tf=True,
                                ngram_range=tuple(self.config["word_ngram_range"]))
        across = self.config["char_across_words"]
        chars = TfidfVectorizer(analyzer="char" if across else "char_wb", lowercase=False,
                                preprocessor=_without_spaces if across else None,
                                sublinear_tf=True, min_df=self.config["char_min_df"],
                                ngram_range=tuple(self.config["char_ngram_range"]))
        if self.config["length_buckets"]:
            from sklearn.preprocessing import FunctionTransformer

            return make_union(words, chars, FunctionTransformer(_length_buckets))
        return make_union(words, chars)

    def _new_linear_models(self) -> dict[str, Any]:
        """{"linear": …} and, for "logistic+svm", the calibrated SVM as "second_linear"."""
        kind = self.config["linear_model"]
        if kind == "logistic+svm":
            return {"linear": self._new_linear_model("logistic"),
                    "second_linear": self._new_linear_model("calibrated_svm")}
        return {"linear": self._new_linear_model(kind)}

    def _new_linear_model(self, kind: str) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        weights = self.config["class_weight"]
        if kind == "calibrated_svm":
            # A linear SVM trains in seconds where logistic regression takes a minute and a
            # half; the sigmoid calibration turns its margins into the probabilities that
            # the fallback threshold and the naive Bayes blend need.
            svm = LinearSVC(C=self.config["svm_C"], class_weight=weights)
            return CalibratedClassifierCV(svm, cv=self.config["calibration_folds"])
        return LogisticRegression(C=self.config["C"], max_iter=self.config["max_iter"],
                                  class_weight=weights)

    def train(self, training_data: TrainingData) -> Resource:
        import numpy as np
        from sklearn.naive_bayes import ComplementNB

        examples = [m for m in training_data.intent_examples if m.get(INTENT) and m.get(TEXT)]
        if len({m.get(INTENT) for m in examples}) < 2:
            return self._resource  # nothing to tell apart; process() leaves intents unset
        features = self._new_features()
        matrix = features.fit_transform([self._document(m) for m in examples])
        intents = np.array([m.get(INTENT) for m in examples])
        naive_bayes = ComplementNB(alpha=self.config["naive_bayes_alpha"])
        self.models = {"features": features,
                       **{name: model.fit(matrix, intents)
                          for name, model in self._new_linear_models().items()},
                       "naive_bayes": naive_bayes.fit(matrix, intents)}
        _store_weights_column_major(self.models)
        self.persist()
        self.features = IdfArrayFeatures(features)
        return self._resource

    def persist(self) -> None:
        import joblib

        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self.models, directory / "tfidf_intent.joblib")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        import joblib

        try:
            with model_storage.read_from(resource) as directory:
                models = joblib.load(directory / "tfidf_intent.joblib")
        except (ValueError, FileNotFoundError):
            models = None  # trained without intents
        if models is not None and not isinstance(models, dict):
            # A model trained before the naive Bayes blend: one features→logistic pipeline.
            models = {"features": models[:-1], "linear": models[-1]}
        if models is not None and "logistic" in models:  # before the calibrated SVM option
            models["linear"] = models.pop("logistic")
        return cls(config, model_storage, resource, models)

    def posteriors(self, messages: List[Message]) -> Any:
        """Intent probabilities per message, columns in ``self.models["linear"].classes_``."""
        import numpy as np
        from scipy.special import softmax

        matrix = self.features.transform([self._document(m) for m in messages])
        with np.errstate(divide="ignore"):  # a calibrated SVM may give exactly 0
            scores = np.maximum(np.log(self.models["linear"].predict_proba(matrix)), -30.0)
            if "second_linear" in self.models:  # both fitted on the same labels: same columns
                svm = np.maximum(np.log(self.models["second_linear"].predict_proba(matrix)), -30.0)
                scores = (1 - self.config["svm_weight"]) * scores + self.config["svm_weight"] * svm
        weight = self.config["naive_bayes_weight"]
        letters = np.array([len("".join((m.get(TEXT) or "").split()))
                            >= self.config["naive_bayes_min_chars"] for m in messages])
        if weight > 0 and letters.any() and "naive_bayes" in self.models:
            naive_bayes = self.models["naive_bayes"].predict_log_proba(matrix[letters])
            scores[letters] = (1 - weight) * scores[letters] + weight * naive_bayes
        classes = list(self.models["linear"].classes_)
        penalty = self.config["letter_out_of_scope_penalty"]
        if penalty and OUT_OF_SCOPE in classes:
            scores[letters, classes.index(OUT_OF_SCOPE)] -= penalty
        return softmax(scores, axis=1)  # renormalises the geometric mean and the penalty

    def process(self, messages: List[Message]) -> List[Message]:
        if self.models is None:
            return messages
        names = self.models["linear"].classes_
        for message, row in zip(messages, self.posteriors(messages)):
            ranking = sorted(({"name": str(n), "confidence": float(p)}
                              for n, p in zip(names, row)), key=lambda r: -r["confidence"])
            message.set(INTENT, ranking[0], add_to_output=True)
            if self.config["ranking_length"] > 0:
                ranking = ranking[: self.config["ranking_length"]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
