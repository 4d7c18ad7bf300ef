"""Print how well the splitter cuts the team's multi-problem set (tests/nlu/multi_problem.tsv).

    .venv/bin/python scripts/eval_split.py [--model PATH | --rasa-url URL] [--misses]

Each part is classified by the real trained model: loaded in-process from --model (default:
the current model in models/, else the test cache), or asked over HTTP from a running Rasa
server's POST /model/parse with --rasa-url (the token from the settings).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_model() -> Path:
    from minsheng.settings import load_settings
    from nlu import registry

    current = registry.current_model_path(Path(load_settings().models_dir))
    cached = sorted((ROOT / "tests" / "artefacts" / "nlu-models").glob("*.tar.gz"))
    if current is None and not cached:
        sys.exit("no trained model: give --model, or run `minsheng nlu train`")
    return current or cached[-1]


def in_process(model: Path):
    from nlu.training import Parser, quiet_rasa_logging

    quiet_rasa_logging()
    parser = Parser(model)

    async def classify(text: str) -> list[dict]:
        # the parser runs its own event loop, so it is called outside this one
        result = await asyncio.to_thread(parser.parse, text)
        return result.get("intent_ranking") or []

    return classify


def over_http(url: str):
    from bot.core.rasa import RasaClient
    from minsheng.settings import load_settings

    client = RasaClient(url, load_settings().rasa_token or "")

    async def classify(text: str) -> list[dict]:
        result = await client.parse(text)
        if result is None:
            sys.exit(f"no answer from Rasa at {url}")
        return result.get("intent_ranking") or []

    return classify


async def run(args) -> int:
    from nlu.split_eval import load_set, measure

    classify = over_http(args.rasa_url) if args.rasa_url else in_process(args.model or default_model())
    rows = load_set()
    for half in ("dev", "test", "fresh", None):
        chosen = [r for r in rows if half is None or r.half == half]
        score = await measure(chosen, classify)
        name = {"dev": "dev half (tuned on)", "test": "test half (not tuned on)",
                "fresh": "fresh (after tuning)", None: "all"}[half]
        print(f"{name:26} two-problem split right {score.split_rate:6.1%} "
              f"({score.several_right}/{score.several})   single left whole "
              f"{score.whole_rate:6.1%} ({score.single_right}/{score.single})")
        if half is None and args.misses:
            print("\n".join(score.misses))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rasa-url")
    parser.add_argument("--misses", action="store_true", help="print every message it got wrong")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
