#!/usr/bin/env bash
# One View 2 fold of the CPU triplet setting, then the same network with test-time mirror averaging and
# with Joint Bayesian scoring:
#
#   scripts/cpu_triplet_fold.sh K OUT_DIR      (data root from FACELAB_DATA or the default configuration)
#
# semi-hard mining, small CNN of width 32, 40 epochs of 32×4 batches, weight decay 5e-4, cosine schedule,
# random flips and shifts of ±4 pixels (chosen on View 1: reports/cpu/triplet-semi-hard-v1-40ep-shift4),
# the threshold chosen on a training fold held out of fitting (--threshold held-out). 18-27 minutes of
# training a fold on a 2-core CPU (fit_seconds 1082-1612 over folds 1-7, more when other work shares the
# cores; results.json records fit and wall seconds). Writes OUT_DIR/foldK/plain (cosine),
# OUT_DIR/foldK/flip (cosine, mirror-averaged embeddings) and OUT_DIR/foldK/jb (triplet-semi-hard+jb: the
# same network's embedding, PCA-whitened to 64 dimensions, scored by Joint Bayesian fitted on the training
# people), OUT_DIR/foldK/jb-flip (the same with mirror-averaged embeddings) and OUT_DIR/foldK/tta (both
# methods, each face embedded as the mean over 18 views: itself and its mirror, each moved over the 3×3
# grid of ±2-pixel shifts; chosen on View 1 by AUC), each with results.json, scores.json, log.txt. The
# network trains once (in OUT_DIR/run); the later commands load it. ONLY='jb|tta' runs just those
# variants (on a kept network: no training); SEED=1 trains another network (run_dir/…/data-<fp>-seed1). Join
# finished folds with
#   facelab report --merge OUT_DIR/fold*/plain --out OUT_DIR/merged-plain   (and for flip, jb, jb-flip, tta)
set -euo pipefail
k=${1:?fold number 1..10}; out=${2:?output folder}
args=(--protocol view2 --folds "$k" --threshold held-out --no-identification --seed "${SEED:-0}"
      --param 'backbone_kwargs={"width":32}' --param epochs=40 --param p=32 --param weight_decay=5e-4
      --param lr_schedule='"cosine"' --param precision='"float32"' --param shift=4
      --param "run_dir=\"$out/run\"" --no-progress)
run() {  # run VARIANT FACELAB-COMPARE-ARGUMENTS...: one variant's folder, unless ONLY names others
  local v=$1; shift
  [[ -n ${ONLY:-} && ! $v =~ ^($ONLY)$ ]] && return 0  # ONLY: a regular expression matching the whole name
  mkdir -p "$out/fold$k/$v"
  python -m facelab compare "${args[@]}" "$@" --out "$out/fold$k/$v" > "$out/fold$k/$v/log.txt" 2>&1
  grep -h "| triplet-semi-hard" "$out/fold$k/$v/results.md" | sed "s/^/$v /"
}
run plain --methods triplet-semi-hard
run flip --methods triplet-semi-hard --param flip_average=true
run jb --methods triplet-semi-hard+jb
run jb-flip --methods triplet-semi-hard+jb --param flip_average=true
run tta --methods triplet-semi-hard,triplet-semi-hard+jb --param flip_average=true --param shift_average=2
