"""The topology of minsheng/topology.py started for a test or a benchmark: fresh
PostgreSQL databases (created here, dropped by ``stop``), the district seeded, the local
Bot API server (tests/botapi) in a thread for the gateways.

``Deployment`` has what tests/faults/journeys.py reads from a stack (``bot_api``,
``query``, ``tracker_query``), so its journeys and its lost/doubled count run unchanged.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from minsheng.topology import Backing, Replicas, Topology
from nlu import registry
from tests.e2e.harness import ThreadedBotApi, create_database, drop_database, seed_district
from tests.faults.stack import pg_query


@dataclass
class Deployment:
    topology: Topology
    bot_api: ThreadedBotApi
    cases_url: str
    trackers_url: str
    databases: tuple[str, ...]

    @property
    def public_url(self) -> str:
        return self.topology.layout.public_url

    def query(self, sql: str, *params) -> list[tuple]:
        """SQL on the cases database (SQLite's json_extract and ? work: pg_query)."""
        return pg_query(self.cases_url, sql, params)

    def tracker_query(self, sql: str, *params) -> list[tuple]:
        return pg_query(self.trackers_url, sql, params)

    def stop(self) -> None:
        try:
            self.topology.stop()
        finally:
            self.bot_api.close()
            for name in self.databases:
                drop_database(name)


def start_deployment(run_dir: Path, model: Path, replicas: Replicas | None = None
                     ) -> Deployment:
    """Databases created, district seeded, every program started (not yet ready)."""
    suffix = uuid.uuid4().hex[:10]
    cases_db, trackers_db = f"minsheng_topo_{suffix}_cases", f"minsheng_topo_{suffix}_rasa"
    created: list[str] = []
    bot_api = None
    try:
        cases_url = create_database(cases_db)
        created.append(cases_db)
        trackers_url = create_database(trackers_db)
        created.append(trackers_db)
        bot_api = ThreadedBotApi()
        # The model is the registry's current one: the web apps serve it to every Rasa
        # replica when endpoints.scale-out.yml names a model server (and Rasa ignores -m).
        models = run_dir / "models"
        models.mkdir(exist_ok=True)
        (models / model.name).symlink_to(model)
        registry.promote(models, model.name)
        topology = Topology(run_dir, model, Backing(cases_url, trackers_db),
                            replicas or Replicas(),
                            extra_env={"TELEGRAM_BOT_TOKEN": bot_api.token,
                                       "MINSHENG_TELEGRAM_BASE_URL": bot_api.base_url,
                                       "MINSHENG_PHOTOS_DIR": str(run_dir / "photos"),
                                       "MINSHENG_SECRETS_DIR": str(run_dir / "secrets"),
                                       "MINSHENG_MODELS_DIR": str(models),
                                       "MINSHENG_PLACE_LEXICON_PATH":
                                           str(run_dir / "place_lexicon.json")})
        seed_district(topology.env, run_dir)
        topology.start()
    except BaseException:
        if bot_api is not None:
            bot_api.close()
        for name in created:
            drop_database(name)
        raise
    return Deployment(topology, bot_api, cases_url, trackers_url, tuple(created))
