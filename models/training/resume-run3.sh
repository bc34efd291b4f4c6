#!/bin/sh
# Resume run3 (see start-run3.sh) in the background; on a fresh machine rebuild the corpus first
# (resume-run1.sh does) and copy run3/float-last.npz, config.json, sources.json into the run directory.
set -e
cd "$(dirname "$0")/../.."
RUN=/work/lstmzip-train/run3
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
PY=${PY:-/work/venv/bin/python}
mkdir -p "$RUN"
if [ ! -f "$RUN/float-last.npz" ] && [ ! -f "$RUN/qat-last.npz" ] && [ -f models/training/run3/float-last.npz ]; then
  cp models/training/run3/float-last.npz models/training/run3/config.json models/training/run3/sources.json "$RUN/"
fi
nohup nice -n 19 "$PY" -m lstmzip train --resume --run-dir "$RUN" --threads 1 --no-progress --stop-after qat \
  >> /work/lstmzip-train/run3.log 2>&1 &
echo "resumed: pid $!, log /work/lstmzip-train/run3.log"
