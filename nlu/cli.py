"""``minsheng nlu …``: train, evaluate, review, learn, rollback, promote, replicas, threshold.

``minsheng.cli`` dispatches here with ``main(argv)``; ``python -m nlu.cli …`` works too.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from nlu import registry
from nlu.evaluation import (
    BENCHMARK,
    calibrate_threshold,
    cross_validate,
    default_eval_sets,
    format_report,
    predict,
    read_eval_tsv,
    score_predictions,
    summary_line,
)
from nlu.training import CONFIG, DATA, DOMAIN, Parser, quiet_rasa_logging


def _settings():
    from minsheng.settings import load_settings

    return load_settings()


def _known_intents() -> set[str]:
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8")) or {}
    return {i if isinstance(i, str) else next(iter(i)) for i in domain.get("intents", [])}


def _print_outcome(outcome) -> None:
    from nlu.learning import comparison_table

    if outcome.new_scores:
        print(comparison_table(outcome))
    if outcome.promoted:
        print(f"promoted {outcome.model} (previous: {outcome.old_model or 'none'})")
    else:
        print(f"NOT promoted {outcome.model}: macro-F1 dropped; current stays {outcome.old_model}")
    if outcome.server_note:
        print(outcome.server_note)


def _current_or_trained_model(settings) -> Path:
    path = registry.current_model_path(settings.models_dir)
    if path is not None:
        return path
    from nlu.learning import train_compare_promote

    print("no model yet: training one", file=sys.stderr)
    train_compare_promote(settings.models_dir, {}, rasa_urls=settings.rasa_replicas,
                          rasa_token=settings.rasa_token, log=lambda m: print(m, file=sys.stderr))
    return registry.current_model_path(settings.models_dir)


def cmd_train(args, settings) -> int:
    from nlu.learning import train_compare_promote

    outcome = train_compare_promote(
        settings.models_dir, default_eval_sets(), rasa_urls=settings.rasa_replicas,
        rasa_token=settings.rasa_token, force=args.force,
    )
    _print_outcome(outcome)
    print(f"training took {outcome.train_seconds:.1f} s")
    return 0


def cmd_evaluate(args, settings) -> int:
    if args.cross_validation:
        report = cross_validate(CONFIG, DATA / "nlu", folds=args.folds)
    else:
        if not args.file:
            print("evaluate needs FILE or --cross-validation", file=sys.stderr)
            return 2
        parser = Parser(_current_or_trained_model(settings))
        print(f"model {parser.model_path.name}", file=sys.stderr)
        report = score_predictions(predict(parser, read_eval_tsv(Path(args.file))))
        parser.close()
    print(format_report(report))
    print(summary_line(report))
    return 0


def cmd_review(args, settings) -> int:
    from minsheng.db import Database
    from minsheng.nlu_log import export_review
    from nlu.learning import write_review_tsv

    threshold = args.threshold if args.threshold is not None else settings.nlu_confidence_threshold
    database = Database(settings.database_url)
    with database.uow() as uow:
        rows = export_review(uow, threshold, mark_exported=not args.again)
        out = Path(args.out)
        count = write_review_tsv(rows, out)
        uow.commit()
    database.dispose()
    print(f"{count} messages to review (confidence < {threshold} or corrected) → {out}")
    print("fill the 'label' column with a category code or out_of_scope, then: minsheng nlu learn", out)
    return 0


def cmd_learn(args, settings) -> int:
    from nlu.learning import learn

    outcome = learn(Path(args.file), settings.models_dir, default_eval_sets(),
                    known_intents=_known_intents(), rasa_urls=settings.rasa_replicas,
                    rasa_token=settings.rasa_token)
    if outcome is None:
        print("nothing new to learn; no model trained")
        return 0
    _print_outcome(outcome)
    return 0 if outcome.promoted else 1


def cmd_rollback(args, settings) -> int:
    from nlu.serving import publish_model

    try:
        reg = registry.rollback(settings.models_dir)
    except LookupError as error:
        print(f"cannot roll back: {error}", file=sys.stderr)
        return 1
    print(f"current model is now {reg.current}")
    print(publish_model(settings.rasa_replicas, settings.rasa_token,
                        Path(settings.models_dir) / reg.current))
    return 0


def cmd_promote(args, settings) -> int:
    """Make an archive in models_dir current and push it to every replica."""
    from nlu.serving import publish_model

    models_dir = Path(settings.models_dir)
    if Path(args.model).name != args.model or not (models_dir / args.model).is_file():
        print(f"no model {args.model} in {models_dir}", file=sys.stderr)
        return 1
    registry.promote(models_dir, args.model)
    print(f"current model is now {args.model}")
    print(publish_model(settings.rasa_replicas, settings.rasa_token, models_dir / args.model))
    return 0


def cmd_replicas(args, settings) -> int:
    """What each Rasa replica serves (GET /status), against the registry's current model."""
    from nlu.serving import replicas_status

    current = registry.load_registry(settings.models_dir).current
    print(f"current model: {current or 'none promoted'}")
    for state in replicas_status(settings.rasa_replicas, settings.rasa_token):
        print(state.describe())
    return 0


def write_fallback_threshold(value: float, config: Path = CONFIG) -> None:
    """Set FallbackClassifier's threshold in config.yml, keeping the file's comments."""
    text = config.read_text(encoding="utf-8")
    pattern = re.compile(r"(- name: FallbackClassifier\s*\n\s+threshold:\s*)([0-9.]+)")
    if not pattern.search(text):
        raise ValueError("config.yml has no FallbackClassifier threshold line")
    config.write_text(pattern.sub(lambda m: f"{m.group(1)}{value:.2f}", text), encoding="utf-8")


def cmd_threshold(args, settings) -> int:
    files = [Path(f) for f in args.eval] or list(default_eval_sets().values())
    examples = [e for f in files for e in read_eval_tsv(f)]
    parser = Parser(_current_or_trained_model(settings))
    predictions = predict(parser, examples)
    parser.close()
    thresholds = [round(0.30 + 0.05 * i, 2) for i in range(14)]
    table, recommended = calibrate_threshold(predictions, thresholds, args.target)
    print(f"{len(examples)} messages from {', '.join(f.name for f in files)}; "
          f"target accuracy of decided messages {args.target:.2f}")
    print(f"{'threshold':>9}{'decided':>9}{'asked':>7}{'accuracy':>10}")
    for row in table:
        print(f"{row['threshold']:>9.2f}{row['coverage']:>9.1%}{row['asked']:>7}{row['accuracy']:>10.3f}")
    print(f"recommended threshold {recommended:.2f} "
          f"(set MINSHENG_NLU_CONFIDENCE_THRESHOLD={recommended:.2f}; current {settings.nlu_confidence_threshold})")
    if args.write:
        write_fallback_threshold(recommended)
        print(f"config.yml FallbackClassifier threshold set to {recommended:.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minsheng nlu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a new versioned model; promote it unless worse")
    train.add_argument("--force", action="store_true", help="promote even if macro-F1 drops")
    evaluate = sub.add_parser("evaluate", help="per-class metrics on a TSV (id, category, text)")
    evaluate.add_argument("file", nargs="?")
    evaluate.add_argument("--cross-validation", action="store_true")
    evaluate.add_argument("--folds", type=int, default=5)
    review = sub.add_parser("review", help="export low-confidence and corrected messages")
    review.add_argument("--out", default="nlu_review.tsv")
    review.add_argument("--threshold", type=float)
    review.add_argument("--again", action="store_true", help="do not mark them exported")
    learn = sub.add_parser("learn", help="add labelled review rows, retrain, compare, promote")
    learn.add_argument("file")
    sub.add_parser("rollback", help="make the previous model current again")
    promote = sub.add_parser("promote", help="make a model in models_dir current, push it "
                             "to every Rasa replica")
    promote.add_argument("model", help="archive name, e.g. minsheng-20261123-101500.tar.gz")
    sub.add_parser("replicas", help="which model each Rasa replica serves")
    threshold = sub.add_parser("threshold", help="coverage/accuracy per confidence threshold")
    threshold.add_argument("--eval", action="append", default=[], help=f"TSV (default: {BENCHMARK.name} and tests/nlu/*.tsv)")
    threshold.add_argument("--target", type=float, default=0.95)
    threshold.add_argument("--write", action="store_true", help="write it into config.yml")
    return parser


COMMANDS = {
    "train": cmd_train, "evaluate": cmd_evaluate, "review": cmd_review,
    "learn": cmd_learn, "rollback": cmd_rollback, "threshold": cmd_threshold,
    "promote": cmd_promote, "replicas": cmd_replicas,
}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    quiet_rasa_logging()
    return COMMANDS[args.command](args, _settings())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
