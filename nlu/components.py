"""Custom Rasa graph components (referenced from config.yml as ``nlu.components.<Name>``)."""
from __future__ import annotations

import re

import numpy as np
import scipy.sparse

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

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
    """Place parts (xiaoqu, building, unit, room), phone and time by rules, values normalised."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"entities": ["xiaoqu", "building", "unit", "room", "phone", "time"]}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._wanted = set(config.get("entities") or [])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MinshengEntityExtractor":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            found = [e.as_dict() for e in extract_entities(text) if e.entity in self._wanted]
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


LENGTH_BUCKETS = (8, 16, 32, 64, 128, 256)  # characters; one more bucket above the last


def length_bucket(text: str) -> int:
    """Index of the message's length bucket: 0 for ≤ 8 characters … 6 for > 256."""
    length = len(re.sub(r"\s+", "", text or ""))
    return next((i for i, limit in enumerate(LENGTH_BUCKETS) if length <= limit),
                len(LENGTH_BUCKETS))


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class MessageLengthFeaturizer(SparseFeaturizer, GraphComponent):
    """One-hot length bucket as a sentence feature.

    A three-paragraph letter full of place names is a report, not an answer to
    "where is it?" (provide_place) — the slot-filling intents are short.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**SparseFeaturizer.get_default_config()}

    def __init__(self, config: Dict[Text, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MessageLengthFeaturizer":
        return cls(config, execution_context)

    def _featurize(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return
        width = len(LENGTH_BUCKETS) + 1
        sentence = scipy.sparse.coo_matrix(
            ([1.0], ([0], [length_bucket(message.get(TEXT))])), shape=(1, width)
        )
        sequence = scipy.sparse.coo_matrix((len(tokens), width))
        self.add_features_to_message(sequence, sentence, TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._featurize(message)
        return training_data

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class SentenceFeatureNormaliser(GraphComponent):
    """L2-normalises the sparse sentence features of the text (bag-of-n-gram counts).

    With no transformer layers DIET classifies from the sentence features alone; raw
    counts let a long letter's many place words (市, 区, 路, 号…) outweigh everything
    else and pull it towards short-answer intents such as provide_place.
    Place it after the featurizers, before DIETClassifier.
    """

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceFeatureNormaliser":
        return cls()

    @staticmethod
    def _normalise(message: Message) -> None:
        for feature in message.features:
            if (feature.type == FEATURE_TYPE_SENTENCE and feature.attribute == TEXT
                    and feature.is_sparse()):
                matrix = feature.features.tocsr().astype(float)
                norm = float(np.sqrt(matrix.multiply(matrix).sum()))
                if norm > 0:
                    feature.features = (matrix / norm).tocoo()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalise(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalise(message)
        return training_data
