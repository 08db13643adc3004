# Set-up and the two everyday commands: `make run` (a short real training run) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_DIR ?= runs/cartpole_dqn-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup run test lint typecheck lint-imports unit faults wheel-check mutants planted-bugs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "rlkit set-up: a virtual environment in $(VENV), then rlkit (editable) with the CPU build"
	@echo "of torch 2.13.0, Gymnasium with Atari (ROMs included), TensorBoard, and the dev, ray"
	@echo "and minatar extras, pinned by constraints.txt (a few minutes, once)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,ray,minatar]'
	touch $@

# The main job: DQN learns CartPole (about 20-60 s on 2 CPU cores), printing its evaluations as
# it goes; then its learning curves and a GIF of the learned policy, and where everything is.
run: setup
	@echo "== DQN learns to balance CartPole-v1 (the best possible return is 500; target 475)"
	$(BIN)/rlkit run cartpole_dqn --logdir $(RUN_DIR)
	$(BIN)/rlkit plot $(RUN_DIR) --out $(RUN_DIR)/curves.png
	$(BIN)/rlkit eval $(RUN_DIR) --video $(RUN_DIR)/policy.gif
	@echo ""
	@echo "Everything is in $(RUN_DIR)/:"
	@echo "  curves.png    the learning curves (training return; greedy evaluations with their spread)"
	@echo "  policy.gif    the learned policy playing one episode"
	@echo "  summary.json  the final and best evaluations; checkpoints/best.pt is the best agent"
	@echo "  TensorBoard:  $(BIN)/tensorboard --logdir runs   (then open http://localhost:6006)"
	@echo "Next: source $(VENV)/bin/activate, then rlkit list (and the README's tour)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	PATH=$(abspath $(BIN)):$$PATH bash .ci/typecheck

# The architecture's layers, family independence and no import cycles (pyproject.toml).
lint-imports: setup
	PATH=$(abspath $(BIN)):$$PATH bash .ci/lint-imports

unit: setup
	$(BIN)/pytest -q

# The fault-injection tier alone (also part of `unit`): locking, storage faults, foreign
# checkpoints, resume from any state, kill -9 during checkpoint writes.
faults: setup
	$(BIN)/pytest -q -m faults

test: lint typecheck lint-imports unit

wheel-check: setup
	bash .ci/wheel-check $(BIN)/python

# Mutation testing, not part of `make test` (~20 minutes on 2 busy cores): mutmut over the maths
# and agent updates listed in tests/mutation/scope.toml, with their fast tests, scored per module
# (experiments/benchmarks/RESULTS_mutation.md). MUTANTS_ARGS="--only replay" narrows it; results
# and survivors' diffs stay in .mutants/.
mutants: $(VENV)/.mutation

$(VENV)/.mutation: $(VENV)/.installed pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[mutation]'
	touch $@

mutants:
	$(BIN)/python tests/mutation/run_mutants.py $(MUTANTS_ARGS)

# Known RL bugs (tests/planted/*.toml) planted one at a time in a private copy: each must make a
# fast test fail. Not part of `make test` (a few minutes).
planted-bugs: setup
	$(BIN)/python tests/planted/plant.py

clean:
	rm -rf $(VENV) build dist *.egg-info
