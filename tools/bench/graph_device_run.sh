#!/usr/bin/env bash
# Full-data MovieLens and drug runs of tools/bench/hypergraph.py on a GPU machine: one process per (dataset, seed),
# all at once, each training on the GPU for at most BUDGET seconds (no new epoch after it; the bench's 30-epoch cap and
# patience 5 still apply), then pooled by graph_pool.py. Run from the repository root; needs torch with CUDA, numpy,
# scipy, scikit-learn, pandas, onnxruntime and grpcio (no dev stack, no hypernetx, no gensim).
#
#   OUT=/tmp/graph-gpu [PYTHON=python3] [GRAPH_ARGS="--no-outsider-negatives"] \
#     bash tools/bench/graph_device_run.sh DATA_DIR [BUDGET_S] [DEVICE]
set -u
data=${1:?folder holding MovieLens/ and drug/ (../shared/data/hypergraph)}
budget=${2:-420}
device=${3:-cuda}
out=${OUT:-/tmp/graph-device}
py=${PYTHON:-python3}
mkdir -p "$out/runs"
export PYTHONPATH=services/core:services/graph${PYTHONPATH:+:$PYTHONPATH} OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
extra=()
[ "$device" = cpu ] && extra=(--quick)  # a plumbing check on a CPU machine: capped epochs
for name in MovieLens drug; do
  for seed in 0 1 2; do
    "$py" tools/bench/hypergraph.py --datasets "$name" --seeds 1 --first-seed "$seed" --device "$device" \
      --max-train-seconds "$budget" --no-baselines --no-triton --no-lesmis --data-dir "$data" "${extra[@]}" ${GRAPH_ARGS:-} \
      --json "$out/runs/${name}_$seed.json" > "$out/runs/${name}_$seed.log" 2>&1 &
  done
done
wait
grep -h "^\[seed" "$out"/runs/*.log
"$py" tools/bench/graph_pool.py "$out"/runs/*.json | tee "$out/pooled.md"
tail -n 3 "$out"/runs/*.log | grep -i -B2 "error\|traceback" || true
tar -C "$out" -czf "$out/runs.tgz" runs && rm -r "$out/runs"
