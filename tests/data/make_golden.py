"""Regenerate the golden files (run once per format version; never overwrite existing ones).

    python tests/data/make_golden.py

The golden files pin the container format and the integer engine: every later
version of lstmzip must decode them to the originals (tests/test_golden.py).
The golden model is a seeded random LSTM whose output bias is set to the log
byte frequencies of English text, so that its lstm blocks beat "stored".
"""

from pathlib import Path

import numpy as np

from lstmzip.cm import ALL_MODELS, MODEL_BITS
from lstmzip.codec import Compressor
from lstmzip.model import random_model

HERE = Path(__file__).resolve().parent
PROSE = (
    b"A compressor that cannot decode its own files on another machine is not a compressor. "
    b"The predictor therefore runs in integer arithmetic: every product of the network is an "
    b"exact integer, every nonlinearity is a table, and the coder sees the same frequencies "
    b"on every processor, every library and every number of threads. The rest is bookkeeping: "
    b"a header that names the model, blocks that fall back to zstd or to plain storage when the "
    b"model loses, and checksums that turn any damage into a clear error instead of garbage.\n"
)
def mixed() -> bytes:
    """A small tar-like file of every region kind detect() finds: a tar header (text), a PGM
    image, a PBM (1-bit) image, records (table), x86-like code, random bytes (compressed), prose (text)."""
    import io
    import tarfile
    rng = np.random.default_rng(19)
    y, x = np.mgrid[0:48, 0:64]
    pgm = b"P5\n64 48\n255\n" + ((x * 3 + y * 2 + rng.integers(0, 6, (48, 64))) % 256).astype(np.uint8).tobytes()
    records = b"".join(i.to_bytes(4, "little") + b"ACCT" + (i * 37 % 1000).to_bytes(4, "little")
                       + bytes(12) for i in range(300))
    code = bytearray(rng.integers(0, 256, 12288, np.uint8).tobytes())
    for at in range(0, len(code) - 5, 24):        # a CALL rel32 to a nearby target every 24 bytes
        code[at:at + 5] = b"\xe8" + int(rng.integers(-4000, 4000)).to_bytes(4, "little", signed=True)
    noise = rng.integers(0, 256, 20000, np.uint8).tobytes()
    disc = ((x - 30) ** 2 + (y - 24) ** 2 < 300) | (x % 16 == 0)        # a 1-bit drawing, 64 x 48
    pbm = b"P4\n64 48\n" + np.packbits(disc, axis=1).tobytes()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("img.pgm", pgm), ("fax.pbm", pbm), ("records.dat", records), ("a.out", bytes(code)),
                           ("noise.bin", noise), ("README", PROSE * 3)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def arm() -> bytes:
    """An AArch64 ELF file (header, then instruction-like words with BL calls) and a README:
    an arm64 region (kind 6) with its word alignment."""
    rng = np.random.default_rng(6)
    tops = np.array([0xF9, 0x91, 0x54, 0xAA, 0xEB, 0xB9, 0x8B, 0xA9, 0xCB, 0xD1, 0x52, 0xD6], np.uint32)
    words = (tops[rng.integers(0, len(tops), 6000)] << 24) | rng.integers(0, 1 << 24, 6000).astype(np.uint32)
    for j in range(0, 6000, 17):                   # a BL to one of 5 functions every 17 words
        words[j] = 0x94000000 | ((int(rng.choice([300, 900, 2000, 4100, 5800])) - j) & 0x3FFFFFF)
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + (3).to_bytes(2, "little") + (183).to_bytes(2, "little") \
        + (1).to_bytes(4, "little") + bytes(42)
    return head + words.astype("<u4").tobytes() + PROSE * 2


ORIGINALS = {
    "prose": PROSE * 6,            # several lstm blocks of 1000 bytes, 3 streams each
    "empty": b"",
    "one": b"x",
    "binary": bytes(range(256)) * 2,
    "mixed": mixed(),
    "arm": arm(),
}


def golden_model():
    m = random_model(layers=2, hidden=24, seed=2026, name="golden")
    counts = np.bincount(np.frombuffer(PROSE, np.uint8), minlength=256) + 0.25
    scale = 1 << (m.config.out_shift + 7)
    m.b_out[:] = np.round(np.log(counts / counts.sum()) * scale).astype(np.int32)
    m.w_out[:] = (m.w_out // 4).astype(np.int8)
    return m


def main() -> None:
    model_path = HERE / "golden-model.npz"
    if not model_path.exists():
        golden_model().save(model_path)
    (HERE / "golden").mkdir(exist_ok=True)
    forced = Compressor(model_path, methods=("lstm", "stored"), block_size=1000, streams=3)
    for name, data in ORIGINALS.items():
        if name in ("mixed", "arm"):
            continue                       # (its raw file is written with its cm goldens below)
        raw, packed = HERE / "golden" / f"{name}.bin", HERE / "golden" / f"{name}.lstmz"
        if packed.exists():
            continue
        raw.write_bytes(data)
        packed.write_bytes(forced.compress(data))
    auto_path = HERE / "golden" / "prose-auto.lstmz"
    if not auto_path.exists():
        auto_path.write_bytes(Compressor(model_path, block_size=1000, level=1).compress(ORIGINALS["prose"]))
    # format version 2: the cm method (context mixing), static and adaptive, and without the LSTM
    version2 = {
        "prose-cm": Compressor(model_path, methods=("cm", "stored"), level=2, block_size=1000, streams=3),
        "prose-cm-adapt": Compressor(model_path, methods=("cm",), level=3, adapt=True, block_size=3000, streams=2),
        "prose-cm-deep": Compressor(model_path, methods=("cm",), level=3, adapt="deep", block_size=3000, streams=2),
        # (written before deep blocks kept the static model as a second input; since then the
        # same call writes TWIN blocks, pinned here)
        "prose-cm-twin": Compressor(model_path, methods=("cm",), level=3, adapt="deep", block_size=3000, streams=2),
        "binary-cm-nolstm": Compressor(model_path, methods=("cm", "stored"), level=2, cm_models=62),
        "prose-v2-auto": Compressor(model_path, block_size=1000),
        # cm+dict (method 4, still format version 2): -9's default, the word-transformed blocks
        # coded by cm with the output layer adapting
        "prose-cm-dict": Compressor(model_path, methods=("cm", "stored"), level=9, block_size=1600, streams=2),
    }
    for stem, comp in version2.items():
        path = HERE / "golden" / f"{stem}.lstmz"
        if not path.exists():
            path.write_bytes(comp.compress(ORIGINALS[stem.split("-")[0]]))
    # the v2 predictor (cm blocks with model bit 128, still format version 2): with the LSTM,
    # without it (one stream, compiled steps), and under the word transform
    v2 = {
        "prose-cmv2": Compressor(model_path, methods=("cm", "stored"), level=4, block_size=1200,
                                 streams=3, lstm_auto=False),
        "prose-cmv2-nolstm": Compressor(model_path, methods=("cm", "stored"), level=2),
        "prose-cmv2-dict": Compressor(model_path, methods=("cm", "stored"), level=9, block_size=1600,
                                      streams=2, lstm_auto=False),
        "binary-cmv2-auto": Compressor(model_path, methods=("cm", "stored"), level=6),
        # the struct model (bit 16384): a region table in the block, a region of every kind
        "mixed-cmv2-struct": Compressor(model_path, methods=("cm", "stored"), level=2),
        "mixed-cmv2-struct-lstm": Compressor(model_path, methods=("cm", "stored"), level=4, streams=3,
                                             lstm_auto=False),
    }
    # the extension (model bit 32768, a third byte of switches: run, long, line, markup, word2,
    # det, rates, indirect2): with the LSTM, without it, and with a region table
    v2.update({
        "prose-cmext": Compressor(model_path, methods=("cm", "stored"), level=4, block_size=1200,
                                  streams=3, lstm_auto=False),
        "prose-cmext-nolstm": Compressor(model_path, methods=("cm", "stored"), level=2),
        "mixed-cmext-struct": Compressor(model_path, methods=("cm", "stored"), level=3),
        # an arm64 region (kind 6): the BL transform and its contexts
        "arm-cmext-struct": Compressor(model_path, methods=("cm", "stored"), level=2),
        # x86 code as region kind 7: contexts from each byte's place in its instruction
        "mixed-x86i-struct": Compressor(model_path, methods=("cm", "stored"), level=4,
                                        cm_models=ALL_MODELS & ~MODEL_BITS["lstm"]),
    })
    # the second match model and the expected byte's contexts (model bit 26, `match2`, in the
    # fourth switch byte): with the LSTM (written before codings with the LSTM left it out, which
    # they do since: this file keeps the combination covered; rewritten now it would lack it), and
    # without it with a region table
    v2.update({
        "prose-cmm2": Compressor(model_path, methods=("cm", "stored"), level=4, block_size=1500,
                                 streams=2, lstm_auto=False),
        "mixed-cmm2-struct": Compressor(model_path, methods=("cm", "stored"), level=4,
                                        cm_models=ALL_MODELS & ~MODEL_BITS["lstm"] & ~MODEL_BITS["pixel"]),
    })
    for stem, comp in v2.items():
        path = HERE / "golden" / f"{stem}.lstmz"
        raw = HERE / "golden" / f"{stem.split('-')[0]}.bin"
        if not raw.exists():
            raw.write_bytes(ORIGINALS[stem.split("-")[0]])
        if not path.exists():
            path.write_bytes(comp.compress(raw.read_bytes()))
    # format version 3: the compact member a small input gets when its one block is stored or
    # zstd (no model identity, a 1-byte end record); what any Compressor writes for these
    version3 = {
        "empty-compact": Compressor(model_path),
        "one-compact": Compressor(model_path, level=1),
        "binary-compact": Compressor(model_path, methods=("zstd", "stored")),
    }
    for stem, comp in version3.items():
        comp.compact = True                    # (the command line's setting)
        path = HERE / "golden" / f"{stem}.lstmz"
        if not path.exists():
            path.write_bytes(comp.compress(ORIGINALS[stem.split("-")[0]]))
    # format version 4: the compact member of a small input whose one block is model-coded (the
    # model named by 8 bytes of its sha256, 8 bytes of the data's sha256 in the end record)
    version4 = {
        "prose-compactdict": Compressor(model_path, methods=("cm", "stored"), level=4, lstm_auto=False),
        "prose-compactlstm": Compressor(model_path, methods=("lstm",), level=1, streams=2),
    }
    for stem, comp in version4.items():
        path = HERE / "golden" / f"{stem}.lstmz"
        if not path.exists():
            path.write_bytes(comp.compress(ORIGINALS[stem.split("-")[0]]))
            assert path.read_bytes()[8] == 4
    # concatenated files (`cat a.lstmz b.lstmz`): members of versions 1, 3 and 2, decoded as the
    # concatenation of their data
    members = ["prose.lstmz", "empty-compact.lstmz", "one-compact.lstmz", "prose-cm.lstmz"]
    path = HERE / "golden" / "members.lstmz"
    if not path.exists():
        (HERE / "golden" / "members.bin").write_bytes(b"".join(
            ORIGINALS[m.split("-")[0].split(".")[0]] for m in members))
        path.write_bytes(b"".join((HERE / "golden" / m).read_bytes() for m in members))


if __name__ == "__main__":
    main()
