#!/bin/bash
# The ladder of issue 12: one candidate architecture trained on the common budget (training/README.md).
# usage: training/ladder.sh NAME STEPS model.key=value ...   (from the repository root, after `make setup`)
# The four candidates ran at the same time, one torch thread each, with STEPS chosen for ~35 min each:
#   A 800 model.layout=lr model.num_frames=3 model.base_filter=32 model.feat=64 model.num_stages=1 model.n_resblock=1 model.residual=true
#   B 670 model.layout=lr model.num_frames=3 model.base_filter=48 model.feat=48 model.num_stages=1 model.n_resblock=1 model.residual=true
#   E 560 model.layout=lr model.num_frames=5 model.base_filter=32 model.feat=32 model.num_stages=1 model.n_resblock=2 model.residual=true
#   compact 370 model.preset=compact
cd "$(dirname "$0")/.."
name=$1; iters=$2; shift 2
exec .venv/bin/python -m spectraframe.cli train --config compact --out training/ladder_$name \
  data.root=../shared/data/train_corpus data.train_list=train.txt data.targets=all data.flow_method=dis \
  data.lr_patch=48 data.num_workers=0 data.val_holdout=12 val.list=null val.frames=centre val.every=200 \
  train.threads=1 train.batch_size=8 train.lr=1e-3 train.lr_schedule=cosine train.ema=0.999 train.iterations=$iters \
  train.warmup_iterations=$iters train.checkpoint_every=100 train.device=cpu loss.pixel=charbonnier \
  log.every=20 log.image_every=0 log.tensorboard=false log.progress=false "$@" > training/ladder_$name.log 2>&1
