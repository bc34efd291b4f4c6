"""run2: fine-tune run1's float checkpoint as a QAT phase on the broad corpus plus literature (Silesia dickens,
tinyshakespeare).

Run from anywhere: python models/training/run2-finetune.py  (run1 stopped first; log to stdout; QMIN minutes of QAT,
default 70). It made models/broad.npz with:
  lstmzip train --run-dir /work/lstmzip-train/run2 --export-only /work/lstmzip-train/run2/qat-best.npz -o models/broad.npz \
    --bench ../shared/corpora/canterbury --bench ../shared/corpora/calgary"""
import dataclasses, json, os, sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from lstmzip.train import loop
from lstmzip.train.cli import _setup_tf
import tensorflow as tf

RUN = "/work/lstmzip-train/run2"
SRC = "/work/lstmzip-train/run1/float-last.npz"
cfg = loop.load_config("/work/lstmzip-train/run1")
cfg = dataclasses.replace(cfg, qat_minutes=float(os.environ.get("QMIN", "70")), qat_lr=3e-4, threads=2,
                          eval_every_min=15.0, ckpt_every_min=5.0)
_setup_tf(tf, cfg)
if not os.path.exists(os.path.join(RUN, "corpus-train.bin")):
    specs = ["/work/lstmzip-corpus@32000000", "/work/shared/corpora/silesia/dickens.bz2",
             "/work/shared/corpora/misc/tinyshakespeare.txt"]
    corpus = loop.prepare_run(RUN, cfg, specs, ())
    for s in corpus.sources:
        loop.log(f"  {s['name']}: {s['bytes']} bytes, sha256 {s['sha256']}")
    arrays, meta = loop.read_checkpoint(SRC)
    meta["state"].update(window=0, offset=0)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez_compressed(os.path.join(RUN, "float-init.npz"), **arrays)
loop.save_config(RUN, cfg)
resume = os.path.exists(os.path.join(RUN, "qat-last.npz"))
print(loop.train_phase(RUN, cfg, "qat", resume=resume, init_from=os.path.join(RUN, "float-init.npz"), progress=False))
