# Everything a developer or CI does is a target here; `make help` lists them.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# No telemetry or error reports leave the machine (and this machine has no internet).
export RASA_TELEMETRY_ENABLED := false
VENV := .venv/bin
.DEFAULT_GOAL := help

.PHONY: help install run test lint bench-cases bench-nlu bench-bot bench-web bench-notices bench-vs-rasa \
	bench-scale-out bench-webchat-db

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## create .venv from uv.lock (installs uv with pip when missing)
	@scripts/bootstrap.sh

run: install ## start the whole service on the embedded default (SQLite, no Telegram token needed)
	@scripts/ensure_cjk_font.sh
	@$(VENV)/python scripts/run.py

test: install ## run the whole test suite (CI=true: PostgreSQL/Redis tests fail instead of skip)
	@scripts/ensure_chromium.sh
	@scripts/ensure_nginx.sh
	@$(VENV)/python -m pytest -q

lint: install ## ruff
	@$(VENV)/ruff check .

bench-cases: install ## case-domain throughput on SQLite and PostgreSQL
	@$(VENV)/python scripts/bench_cases.py

bench-nlu: install ## NLU: training and load time, parse latency in-process and over HTTP at 1/8/32 clients
	@$(VENV)/python scripts/bench_nlu.py

bench-bot: install ## Telegram gateway: 20 residents in parallel via a local Bot API server (p50/p95, turns/s, RSS)
	@$(VENV)/python scripts/bench_bot.py

bench-web: install ## dashboard and case desk render times (median/p95) with 100k generated cases on SQLite and PostgreSQL; target ≤ 300 ms
	@$(VENV)/python scripts/bench_web.py

bench-notices: install ## staff action → notice on an open web chat (SSE), p50/p95 over 20 residents; target p95 ≤ 2 s
	@$(VENV)/python scripts/bench_notices.py --residents 20

bench-webchat-db: install ## a web chat turn's database work in-process, CPU ms per turn; ARGS=--url URL for PostgreSQL
	@$(VENV)/python scripts/bench_webchat_db.py $(ARGS)

bench-vs-rasa: install ## bare `rasa init` bot vs our stack (REST, web chat) at 1/20/50 clients; ARGS=--quick
	@$(VENV)/python scripts/bench_vs_rasa.py $(ARGS)

bench-scale-out: install ## 2 of each behind nginx vs 1 of each, 20 web chat clients, and during kill -9 of one replica of each kind (turns/s, p95)
	@scripts/ensure_nginx.sh
	@$(VENV)/python scripts/bench_scale_out.py $(ARGS)
