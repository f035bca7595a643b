#!/usr/bin/env bash
# One View 2 fold of the CPU triplet setting, then the same network with test-time mirror averaging:
#
#   scripts/cpu_triplet_fold.sh K OUT_DIR      (data root from FACELAB_DATA or the default configuration)
#
# semi-hard mining, small CNN of width 32, 40 epochs of 32×4 batches, weight decay 5e-4, cosine schedule,
# random flips and shifts of ±4 pixels (chosen on View 1: reports/cpu/triplet-semi-hard-v1-40ep-shift4),
# the threshold chosen on a training fold held out of fitting (--threshold held-out). About 27 minutes a
# fold on a 2-core CPU (results.json records fit and wall seconds). Writes OUT_DIR/foldK/plain and
# OUT_DIR/foldK/flip (results.json, scores.json, log.txt);
# the network stays in OUT_DIR/run. Join finished folds with
#   facelab report --merge OUT_DIR/fold*/plain --out OUT_DIR/merged-plain   (and the same for flip)
set -euo pipefail
k=${1:?fold number 1..10}; out=${2:?output folder}
args=(--methods triplet-semi-hard --protocol view2 --folds "$k" --threshold held-out --no-identification
      --param 'backbone_kwargs={"width":32}' --param epochs=40 --param p=32 --param weight_decay=5e-4
      --param lr_schedule='"cosine"' --param precision='"float32"' --param shift=4
      --param "run_dir=\"$out/run\"" --no-progress)
mkdir -p "$out/fold$k/plain" "$out/fold$k/flip"
python -m facelab compare "${args[@]}" --out "$out/fold$k/plain" > "$out/fold$k/plain/log.txt" 2>&1
python -m facelab compare "${args[@]}" --param flip_average=true --out "$out/fold$k/flip" \
  > "$out/fold$k/flip/log.txt" 2>&1
grep -h "triplet-semi-hard |" "$out/fold$k/plain/results.md" "$out/fold$k/flip/results.md"
