#!/bin/sh
# First start of run3 (issue #18): the -6 candidate, 2 x 256 (the default's size, which keeps -6 at its
# speed floor), on 80 MB of the builder corpus plus the literature this project may train on (Silesia's
# dickens, tinyshakespeare: 13 % of the bytes; run1's corpus has no fiction and its model codes Dickens
# 12 % worse than the default in the mix). One thread, nice'd; resume with `sh models/training/resume-run3.sh`.
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
PY=${PY:-/work/venv/bin/python}
S=../shared/corpora
nohup nice -n 19 "$PY" -m lstmzip train /work/lstmzip-corpus@80000000 $S/silesia/dickens.bz2 $S/misc/tinyshakespeare.txt \
  --run-dir /work/lstmzip-train/run3 --preset default --embed 64 --layers 2 --hidden 256 \
  --threads 1 --lr 0.002 --warmup-steps 200 --minutes 100000 --max-steps 24000 --qat-minutes 60 \
  --ckpt-every-min 10 --eval-every-min 30 --val-bytes 256000 --no-progress --stop-after qat \
  >> /work/lstmzip-train/run3.log 2>&1 &
echo "started: pid $!, log /work/lstmzip-train/run3.log"
