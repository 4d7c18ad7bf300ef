"""The NLU retraining job behind the web page: one at a time, in a background thread.

It runs ``nlu.learning.learn`` — the code behind ``minsheng nlu learn`` — on the messages
staff relabelled, and keeps a log and a stage the page polls for progress.
"""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import update

from minsheng import nlu_log
from minsheng.clock import utcnow
from minsheng.models import NluMessage

log = logging.getLogger(__name__)
STAGES = {"queued": "排队中", "training": "训练中", "evaluating": "评测对比中",
          "done": "已完成", "nothing": "没有新的标注", "failed": "失败"}


@dataclass
class TrainingJob:
    started: float = field(default_factory=time.monotonic)
    stage: str = "queued"
    lines: list[str] = field(default_factory=list)
    expected_seconds: float = 180.0
    outcome: object | None = None
    error: str | None = None
    finished: float | None = None

    @property
    def running(self) -> bool:
        return self.stage in ("queued", "training", "evaluating")

    def say(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith("trained "):
            self.stage = "evaluating"

    def progress(self) -> float:
        """A rough 0–1 estimate from the elapsed time and the last training's duration."""
        if not self.running:
            return 1.0
        elapsed = time.monotonic() - self.started
        return min(0.95, elapsed / max(self.expected_seconds * 1.3, 1.0))

    def to_json(self) -> dict:
        outcome = self.outcome
        return {
            "stage": self.stage, "stage_label": STAGES[self.stage], "running": self.running,
            "progress": round(self.progress(), 3), "lines": self.lines[-20:],
            "elapsed": round((self.finished or time.monotonic()) - self.started, 1),
            "error": self.error,
            "model": getattr(outcome, "model", None),
            "promoted": getattr(outcome, "promoted", None),
        }


def start_training(app_state, threshold: float) -> TrainingJob:
    """Start a job unless one runs; the caller checks ``app_state.training.running`` first."""
    from nlu import registry

    history = registry.load_registry(app_state.settings.models_dir).history
    seconds = [h["train_seconds"] for h in history if h.get("train_seconds")]
    job = TrainingJob(expected_seconds=seconds[-1] if seconds else 180.0)
    app_state.training = job
    thread = threading.Thread(target=_run, args=(app_state, job, threshold), daemon=True,
                              name="nlu-training")
    thread.start()
    return job


def _run(app_state, job: TrainingJob, threshold: float) -> None:
    from nlu.cli import _known_intents
    from nlu.learning import learn, write_review_tsv

    settings = app_state.settings
    try:
        with app_state.db.uow() as uow:
            rows = [r for r in nlu_log.export_review(uow, threshold, mark_exported=False)
                    if r.corrected]
        if not rows:
            job.stage = "nothing"
            job.say("没有已改标注的消息：先在复核队列里改标注")
            return
        job.stage = "training"
        job.say(f"{len(rows)} 条已改标注的消息，开始训练候选模型…")
        with tempfile.TemporaryDirectory() as tmp:
            review = Path(tmp) / "review.tsv"
            write_review_tsv(rows, review)
            job.outcome = learn(review, settings.models_dir, app_state.eval_sets(),
                                known_intents=_known_intents(), nlu_dir=app_state.nlu_dir,
                                rasa_urls=settings.rasa_replicas, rasa_token=settings.rasa_token,
                                log=job.say)
        with app_state.db.uow() as uow:  # these corrections have been learned from
            uow.session.execute(update(NluMessage).where(NluMessage.id.in_([r.id for r in rows]))
                                .values(exported_at=utcnow()))
            uow.commit()
        job.stage = "done" if job.outcome is not None else "nothing"
        if job.outcome is None:
            job.say("这些例句已在训练数据中，没有训练新模型")
    except Exception as error:  # shown on the page; the current model keeps serving
        log.exception("NLU training job failed")
        job.stage, job.error = "failed", f"{error.__class__.__name__}: {error}"
    finally:
        job.finished = time.monotonic()
