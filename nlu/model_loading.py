"""A Rasa replica keeps answering while it loads a new model: the load runs in a thread.

Rasa 3.6 loads a model (unpack, build the graph, load TensorFlow weights) synchronously on
its event loop, both when it pulls one from the model server
(``rasa.core.agent._update_model_from_server``) and on PUT /model (``load_agent`` →
``Agent.load_model``). For that time the replica answers nothing — not even /status: on our
loaded two-core test machine about a minute, long enough for turns to time out
(tests/e2e/test_model_swap.py saw 3 of 72 turns fail before this). Here the same steps run
with the expensive part, building the ``MessageProcessor``, in a worker thread; the event
loop keeps answering with the old model and switches to the new one when it is ready, as
Rasa does, in one assignment. Nothing inside the virtualenv is edited: ``install()``
replaces the two module functions in the Rasa process.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import warnings
from typing import Any

log = logging.getLogger(__name__)
_installed: dict[str, Any] = {}


async def load_in_thread(agent, model_path: str, fingerprint: str | None = None) -> None:
    """``Agent.load_model`` with the processor built off the event loop."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.core.processor import MessageProcessor

    build = functools.partial(
        MessageProcessor, model_path=model_path, tracker_store=agent.tracker_store,
        lock_store=agent.lock_store, action_endpoint=agent.action_endpoint,
        generator=agent.nlg, http_interpreter=agent.http_interpreter)
    processor = await asyncio.get_running_loop().run_in_executor(None, build)
    # The rest of Agent.load_model, on the loop: turns see the old model or the new one.
    agent.processor = processor
    agent.domain = processor.domain
    agent._set_fingerprint(fingerprint)
    agent.tracker_store.domain = agent.domain
    if isinstance(agent.nlg, TemplatedNaturalLanguageGenerator):
        agent.nlg.responses = agent.domain.responses if agent.domain else {}


async def update_model_from_server(model_server, agent) -> None:
    """``rasa.core.agent._update_model_from_server`` with the load in a thread."""
    import aiohttp
    from rasa.core import agent as rasa_agent
    from rasa.nlu.utils import is_url
    from rasa.utils.common import TempDirectoryPath, get_temp_dir_name

    if not is_url(model_server.url):
        raise aiohttp.InvalidURL(model_server.url)
    with TempDirectoryPath(get_temp_dir_name()) as directory:
        try:
            fingerprint = await rasa_agent._pull_model_and_fingerprint(
                model_server, agent.fingerprint, directory)
            if fingerprint:
                log.info("loading the model %s from %s", fingerprint, model_server.url)
                await load_in_thread(agent, directory, fingerprint)
                log.info("now serving the model %s", fingerprint)
        except Exception:  # as Rasa: the previous model stays
            log.exception("Failed to update model. The previous model will stay loaded.")


async def load_agent(model_path=None, model_server=None, remote_storage=None, endpoints=None,
                     loop=None):
    """``rasa.core.agent.load_agent`` (PUT /model) with a model file loaded in a thread.

    A model server or remote storage goes the original way (the pull above is already off
    the loop); a model file gets an agent with the same stores first, then its model."""
    original = _installed["load_agent"]
    from_file = (model_path is not None and os.path.exists(model_path) and model_server is None
                 and remote_storage is None and not (endpoints and endpoints.model))
    if not from_file:
        return await original(model_path=model_path, model_server=model_server,
                              remote_storage=remote_storage, endpoints=endpoints, loop=loop)
    with warnings.catch_warnings():  # "Agent loaded with no model!": it is loaded next
        warnings.simplefilter("ignore")
        agent = await original(endpoints=endpoints, loop=loop)
    try:
        await load_in_thread(agent, model_path)
    except Exception:  # as Rasa: an agent without a model, PUT answers 400
        log.exception("Could not load model %s.", model_path)
    return agent


def install() -> None:
    """Replace Rasa's two loading paths (idempotent)."""
    from rasa.core import agent as rasa_agent

    if _installed:
        return
    _installed["load_agent"] = rasa_agent.load_agent
    _installed["update"] = rasa_agent._update_model_from_server
    rasa_agent.load_agent = load_agent
    rasa_agent._update_model_from_server = update_model_from_server
