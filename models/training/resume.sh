#!/bin/sh
# Resume a training run of issue #18 in the background, on this machine or a fresh one:
#   sh models/training/resume.sh RUN          (RUN: run1, run3; from anywhere; log: /work/lstmzip-train/RUN.log)
# 1. rebuild the builder corpus if /work/lstmzip-corpus is missing (about 15 minutes, packages by name);
# 2. seed the run directory from the checkpoint committed in models/training/RUN if it has none (the trainer
#    then re-reads the sources named in its sources.json, since corpus-*.bin are missing, and reports a
#    differing sha256 if any);
# 3. continue training: same config (config.json), learning-rate schedule over --max-steps, checkpoints every 10 min.
set -e
NAME=${1:?usage: resume.sh RUN}
cd "$(dirname "$0")/../.."
RUN=/work/lstmzip-train/$NAME
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
PY=${PY:-/work/venv/bin/python}
if [ ! -f /work/lstmzip-corpus/corpus.json ]; then
  nice -n 19 "$PY" -m lstmzip.train.corpus_build --out /work/lstmzip-corpus --cache /work/lstmzip-corpus-cache \
    > /work/lstmzip-corpus-build.log 2>&1
fi
mkdir -p "$RUN"
if [ ! -f "$RUN/float-last.npz" ] && [ ! -f "$RUN/qat-last.npz" ]; then
  cp "models/training/$NAME/float-last.npz" "models/training/$NAME/config.json" "models/training/$NAME/sources.json" "$RUN/"
fi
nohup nice -n 19 "$PY" -m lstmzip train --resume --run-dir "$RUN" --threads 1 --no-progress --stop-after qat \
  >> "/work/lstmzip-train/$NAME.log" 2>&1 &
echo "resumed: pid $!, log /work/lstmzip-train/$NAME.log"
