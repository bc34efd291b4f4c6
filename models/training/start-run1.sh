#!/bin/sh
# First start of run1 (issue #18): 2 x 384 LSTM on the builder corpus, one thread, nice'd.
cd /work/main
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
exec nice -n 19 /work/venv/bin/lstmzip train /work/lstmzip-corpus \
  --run-dir /work/lstmzip-train/run1 --preset default --embed 64 --layers 2 --hidden 384 \
  --threads 1 --lr 0.002 --warmup-steps 200 --minutes 100000 --max-steps 20000 --qat-minutes 60 \
  --ckpt-every-min 10 --eval-every-min 30 --val-bytes 256000 --no-progress --stop-after qat
