# The two README commands, plus the pieces they are made of.
.PHONY: up test setup lock services-start services-stop status lint bench diagram

up:            ## set up everything and run the platform (simulator feed offline)
	bash scripts/up.sh

test:          ## set up everything and run the whole test suite on real services
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lock:          ## re-resolve requirements.lock from pyproject.toml (after any dependency change)
	.venv/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock

services-start:
	.venv/bin/qp services start

services-stop:
	.venv/bin/qp services stop

status:
	.venv/bin/qp services status

lint:
	.venv/bin/ruff check .

bench:
	.venv/bin/python bench/run_all.py

diagram:       ## docs/architecture.drawio + its PNG, rendered by draw.io's engine (vendor/mxgraph) in headless Chromium
	bash scripts/setup.sh --test
	.venv/bin/python scripts/architecture_diagram.py
