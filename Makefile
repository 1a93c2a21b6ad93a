.PHONY: setup demo dev test lint bench

setup:
	@./scripts/setup.sh

demo: setup
	.venv/bin/voicemill demo

dev: setup
	.venv/bin/voicemill dev

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python bench/dataprep
	.venv/bin/python bench/synthesis
	.venv/bin/python bench/adaptation
	.venv/bin/python bench/campaign
