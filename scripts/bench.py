#!/usr/bin/python3
"""Benchmark ./run on random checkpoints of the published llama2.c shapes.

    /usr/bin/python3 scripts/bench.py [--models 15M,42M,110M] [--large] [--runs 3]
                                      [--quick] [--threads 1,2] [--no-q8]
    /usr/bin/python3 scripts/bench.py --under-load [--baseline-engine OLD/run] [--models 110M] ...

(`make bench` runs it after building ./run.) What it does:

1. Writes checkpoints with random weights (N(0, 0.02), RMSNorm weights 1.0; llama2.c's
   "version 1" fp32 format, written tensor by tensor so that memory stays small) at the
   shapes of stories15M, stories42M and stories110M, and with --large (or BENCH_LARGE=1)
   of TinyLlama 1.1B (grouped-query attention; 4.1 GB, skipped when less than 12 GB of
   disk is free), into bench/ unless they are there already. With --models qwen2.5-0.5B,llama3.2-1B, Q8_0
   GGUF files (scripts/write_gguf.py, its random vocabulary embedded) of Qwen2.5 0.5B's and
   Llama 3.2 1B's shapes: qwen2 with biases and NeoX RoPE, llama with rope_freqs. Speed does not depend on the
   values, so these stand in for the real models.
2. Measures the machine's memory read bandwidth with scripts/membw.c, for 1 thread and for
   every core; and its floating-point peak with scripts/peak.c (independent multiply-add
   chains on the widest vectors the build has), for the same thread counts.
3. For each model and thread count (OMP_NUM_THREADS), the median over --runs of:
   - prompt tok/s: a run whose prompt is 256 tokens (BOS + 255 x "hello"), -n 256: the
     engine's own timing of the prompt's forward pass, printed on stderr;
   - prompt GFLOP/s: 2 x the weights in the layers' matrices x prompt tok/s (not the
     classifier, which a prompt runs for its last token, nor attention), and its % of the peak;
   - decode tok/s: a run from an empty prompt (BOS), greedy (-t 0), -n 256: 256 tokens
     generated one at a time at positions 0..255;
   - decode GB/s: the bytes of weights one decoded token reads (every matrix, the
     classifier included, the RMSNorm vectors and one embedding row; not the KV cache)
     times decode tok/s;
   - % of bandwidth: each decode run's GB/s over the bandwidth membw measures beside it
     (a shorter run, 512 MiB, 5 reps, just before the decode run and again just after it:
     the mean of the two), the median of those ratios. On a shared machine the bandwidth
     drifts by a third from one minute to the next, so a ratio against a measurement taken
     at another time says more about the drift than about the engine; measuring on both
     sides halves the effect of a drift during the run;
   - peak RSS: the largest of the runs, from GNU time's %M (ru_maxrss; the mmapped weights
     count once touched).
   If `./run quantize IN OUT` succeeds on a model, its int8 file (llama2.c "version 2":
   one byte per weight and a float32 scale per group) is benchmarked too, as "NAME q8".
4. Times the encoding of a 50 KB single-line prompt with `./run -m tokenize`.
5. Prints a Markdown table and writes it to bench/results.md.

With --under-load it measures only decoding beside a busy process (`sh -c 'while :; do :; done'`,
started once and kept running through all the runs, so that it holds one core as another
program would): decode tok/s for each model and thread count, the median over --runs, each run
of each engine and thread count in turn (interleaved, so that the other load on the machine
falls on all alike); with --baseline-engine, an older build is run beside --engine the same way.
The models are the fp32 shapes of --models and, when MODELS_DIR has it, quant/q256.f32.gguf (a
tiny model, whose matmuls take microseconds: the hand-overs between threads dominate).

The tokenizer is MODELS_DIR/tokenizer.bin (default ../shared/models, Llama 2's); if it is
absent, a 32000-token one is written to bench/tokenizer.bin. MB and GB are 10^6 and 10^9
bytes. Other processes on the machine make the numbers noisy: the report says how busy
the other processes kept the CPUs during the benchmark.
"""
import argparse
import os
import random
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"

V1_MAGIC = 0x616B3432
HEADER_SIZE = 256
INIT_STD = 0.02

# The published shapes: stories15M, stories42M, stories110M (llama2.c), TinyLlama 1.1B.
MODELS = {
    "15M": dict(dim=288, hidden_dim=768, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000, seq_len=256),
    "42M": dict(dim=512, hidden_dim=1376, n_layers=8, n_heads=8, n_kv_heads=8, vocab_size=32000, seq_len=1024),
    "110M": dict(dim=768, hidden_dim=2048, n_layers=12, n_heads=12, n_kv_heads=12, vocab_size=32000,
                 seq_len=1024),
    "1.1B": dict(dim=2048, hidden_dim=5632, n_layers=22, n_heads=32, n_kv_heads=4, vocab_size=32000,
                 seq_len=2048),
    # GPT-2 (OpenAI's 124M): LayerNorm, learned positions, GELU, biases, the classifier tied.
    "gpt2-124M": dict(arch="gpt2", dim=768, hidden_dim=3072, n_layers=12, n_heads=12, n_kv_heads=12,
                      vocab_size=50257, seq_len=1024),
    # Modern shapes, as Q8_0 GGUF files only (write_gguf.py's options in gguf_options; tied classifier):
    # Qwen2.5-0.5B-Instruct (q/k/v biases, NeoX RoPE, theta 1e6) and Llama 3.2 1B (theta 500000,
    # rope_freqs for its rope_scaling: factor 32, low 1, high 4, original context 8192).
    "qwen2.5-0.5B": dict(dim=896, hidden_dim=4864, n_layers=24, n_heads=14, n_kv_heads=2, vocab_size=151936,
                         seq_len=2048, gguf_options=["--arch", "qwen2", "--rope-freq-base", "1000000"]),
    "llama3.2-1B": dict(dim=2048, hidden_dim=8192, n_layers=16, n_heads=32, n_kv_heads=8, vocab_size=128256,
                        seq_len=2048, gguf_options=["--rope-freq-base", "500000", "--llama3-rope", "32:1:4:8192"]),
}
PUBLISHED = {"15M": "llama2.c's stories15M", "42M": "stories42M", "110M": "stories110M", "1.1B": "TinyLlama 1.1B",
             "gpt2-124M": "GPT-2 124M", "qwen2.5-0.5B": "Qwen2.5 0.5B", "llama3.2-1B": "Llama 3.2 1B"}
DEFAULT_MODELS = ["15M", "42M", "110M", "gpt2-124M"]
GPT2_VOCAB = "ggml-vocab-gpt-2.gguf"  # GPT-2's own vocabulary, in MODELS_DIR
LARGE_MODELS = ["1.1B"]
LARGE_MIN_FREE_BYTES = 12 * 10**9
BUSY_MARK = 0.10  # rows during which other processes used more of the CPUs than this are marked

SUMMARY_RE = re.compile(r"prompt: (\d+) tokens?, (\S+) tok/s; generated: (\d+) tokens?, (\S+) tok/s")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# Checkpoints

def tensor_shapes(c):
    """(name, shape) of every fp32 tensor of a version 1 checkpoint with a shared classifier, in file order."""
    dim, hidden, layers, vocab = c["dim"], c["hidden_dim"], c["n_layers"], c["vocab_size"]
    kv_dim = dim * c["n_kv_heads"] // c["n_heads"]
    return [
        ("rms_att", (layers, dim)), ("rms_ffn", (layers, dim)), ("rms_final", (dim,)),
        ("token_embedding", (vocab, dim)),
        ("wq", (layers, dim, dim)), ("wk", (layers, kv_dim, dim)), ("wv", (layers, kv_dim, dim)),
        ("wo", (layers, dim, dim)),
        ("w1", (layers, hidden, dim)), ("w2", (layers, dim, hidden)), ("w3", (layers, hidden, dim)),
    ]


def n_params(c):
    return sum(int(np.prod(shape)) for _, shape in tensor_shapes(c))


def v1_header(c):
    params = [c[k] for k in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")]
    header = struct.pack("<Ii7iB", V1_MAGIC, 1, *params, 1)  # 1: the classifier is the embedding
    return header + b"\0" * (HEADER_SIZE - len(header))


def write_v1_streaming(path, c, chunk_source):
    """Write a version 1 checkpoint, tensor by tensor and chunk by chunk.
    chunk_source(name, shape) yields float32 arrays whose concatenation is the tensor."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(v1_header(c))
        for name, shape in tensor_shapes(c):
            written = 0
            for chunk in chunk_source(name, shape):
                f.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                written += chunk.size
            if written != int(np.prod(shape)):
                raise BenchError(f"internal: {name} got {written} values, expected {int(np.prod(shape))}")
    os.replace(tmp, path)


def random_chunks(seed, chunk_values=1 << 22):
    """A chunk_source of N(0, INIT_STD) values, 1.0 for the RMSNorm weights."""
    rng = np.random.default_rng(seed)

    def source(name, shape):
        total = int(np.prod(shape))
        for start in range(0, total, chunk_values):
            n = min(chunk_values, total - start)
            if name.startswith("rms_"):
                yield np.ones(n, dtype=np.float32)
            else:
                chunk = rng.standard_normal(n, dtype=np.float32)
                chunk *= INIT_STD
                yield chunk
    return source


def checkpoint_ok(path, c):
    """Is path a version 1 checkpoint of shape c, of the right size?"""
    try:
        if path.stat().st_size != HEADER_SIZE + 4 * n_params(c):
            return False
        with open(path, "rb") as f:
            return f.read(HEADER_SIZE) == v1_header(c)
    except OSError:
        return False


def ensure_checkpoint(name, c, notes):
    """The path of model name's random checkpoint, written if absent; None if skipped."""
    path = BENCH_DIR / f"{name}.bin"
    if checkpoint_ok(path, c):
        return path
    size = HEADER_SIZE + 4 * n_params(c)
    free = shutil.disk_usage(BENCH_DIR).free
    need = max(LARGE_MIN_FREE_BYTES if name in LARGE_MODELS else 0, size + 10**9)
    if free < need:
        notes.append(f"{name} skipped: {free / 1e9:.1f} GB of disk free in bench/, it needs {need / 1e9:.0f} GB.")
        log(notes[-1])
        return None
    log(f"writing {path.relative_to(ROOT)} ({size / 1e6:.0f} MB of random weights)")
    t0 = time.perf_counter()
    write_v1_streaming(path, c, random_chunks(seed=sum(map(ord, name))))
    log(f"  written in {time.perf_counter() - t0:.1f} s")
    return path


def ensure_gpt2(name, c, notes):
    """GPT-2's random checkpoints: (llm.c fp32 file, Q8_0 GGUF file, vocabulary), written by
    scripts/write_gguf_gpt2.py on first use with GPT-2's own vocabulary (MODELS_DIR); None with a
    note when that vocabulary is absent."""
    vocab = models_dir() / GPT2_VOCAB
    if not vocab.is_file():
        notes.append(f"{name} skipped: it needs GPT-2's vocabulary, {vocab}, which is absent.")
        log(notes[-1])
        return None
    llmc, gguf = BENCH_DIR / f"{name}.llmc.bin", BENCH_DIR / f"{name}.q8_0.gguf"
    if llmc.is_file() and gguf.is_file():
        return llmc, gguf, vocab
    llmc.unlink(missing_ok=True)
    log(f"writing {llmc.name} and {gguf.name} (random weights)")
    cmd = [sys.executable, str(ROOT / "scripts" / "write_gguf_gpt2.py"), str(gguf), "--dim", str(c["dim"]),
           "--hidden-dim", str(c["hidden_dim"]), "--layers", str(c["n_layers"]), "--heads", str(c["n_heads"]),
           "--seq-len", str(c["seq_len"]), "--vocab-file", str(vocab), "--matrix-type", "q8_0", "--llmc", str(llmc)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        llmc.unlink(missing_ok=True)
        gguf.unlink(missing_ok=True)
        notes.append(f"{name} skipped: write_gguf_gpt2.py failed: {result.stderr.strip()[-200:]}")
        log(notes[-1])
        return None
    return llmc, gguf, vocab


def read_header(path):
    """(version, group_size or None) of a llama2.c checkpoint with a magic header; None if it has none."""
    with open(path, "rb") as f:
        head = f.read(HEADER_SIZE)
    if len(head) < 41 or struct.unpack_from("<I", head, 0)[0] != V1_MAGIC:
        return None
    version = struct.unpack_from("<i", head, 4)[0]
    group_size = struct.unpack_from("<i", head, 37)[0] if version == 2 else None
    return version, group_size


def decode_bytes_per_token(c, bytes_per_weight):
    """Bytes of weights that decoding one token reads: every matrix (the classifier too) at
    bytes_per_weight, plus the fp32 norm vectors (and GPT-2's biases and one position row) and
    one fp32 embedding row."""
    dim, hidden, layers, vocab = c["dim"], c["hidden_dim"], c["n_layers"], c["vocab_size"]
    kv_dim = dim * c["n_kv_heads"] // c["n_heads"]
    if c.get("arch") == "gpt2":  # q|k|v, output, up, down; LayerNorm weights and biases
        matrices = layers * (2 * dim * dim + 2 * kv_dim * dim + 2 * hidden * dim) + vocab * dim
        vectors = layers * (4 * dim + (dim + 2 * kv_dim) + dim + hidden + dim) + 2 * dim + dim
    else:
        matrices = layers * (2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim) + vocab * dim
        vectors = 2 * layers * dim + dim
    return matrices * bytes_per_weight + 4 * vectors + 4 * dim


def layer_matrix_params(c):
    """Weights in the layers' matrices, which every prompt token is multiplied through (q, k,
    v, output, and the feed-forward's); not the classifier, which a prompt runs for its last
    token only, nor the embedding, the norms, the biases or attention's own arithmetic."""
    dim, hidden, layers = c["dim"], c["hidden_dim"], c["n_layers"]
    kv_dim = dim * c["n_kv_heads"] // c["n_heads"]
    ffn_matrices = 2 if c.get("arch") == "gpt2" else 3  # GPT-2: up, down; Llama: gate, up, down
    return layers * (2 * dim * dim + 2 * kv_dim * dim + ffn_matrices * hidden * dim)


# ---------------------------------------------------------------------------
# Tokenizer and prompts

def write_tokenizer(path, vocab_size=32000):
    """A tokenizer.bin with Llama 2's special and byte tokens, printable ASCII, the prefixes
    of "hello" and " hello" (so that "hello hello ..." is one token per word), then filler."""
    pieces = ["<unk>", "\n<s>\n", "\n</s>\n"] + ["<0x%02X>" % b for b in range(256)]
    pieces += [chr(c) for c in range(32, 127)]
    for word in ("hello", " hello"):
        pieces += [word[:i] for i in range(2, len(word) + 1)]
    known = set()
    pieces = [p for p in pieces if not (p in known or known.add(p))]
    i = 0
    while len(pieces) < vocab_size:
        pieces.append(f"tok{i}")
        i += 1
    encoded = [p.encode() for p in pieces]
    first_text = 3 + 256
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<i", max(len(e) for e in encoded)))
        for i, e in enumerate(encoded):
            score = 0.0 if i < first_text else -float(i - first_text)
            f.write(struct.pack("<fi", score, len(e)) + e)
    os.replace(tmp, path)


def models_dir():
    return Path(os.environ.get("MODELS_DIR") or (ROOT.parent / "shared" / "models"))


def find_tokenizer(notes):
    tok = models_dir() / "tokenizer.bin"
    if tok.is_file():
        return tok
    tok = BENCH_DIR / "tokenizer.bin"
    if not tok.is_file():
        write_tokenizer(tok)
    notes.append(f"{models_dir()}/tokenizer.bin is absent: used a generated 32000-token tokenizer.")
    log(notes[-1])
    return tok


def tokenize(engine, tok, text):
    """The ids ./run -m tokenize gives text (BOS first)."""
    out = subprocess.run([str(engine), "-m", "tokenize", "-z", str(tok)], input=(text + "\n").encode(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if out.returncode != 0:
        raise BenchError(f"./run -m tokenize failed (exit {out.returncode}): {out.stderr.decode(errors='replace')}")
    return out.stdout.split()


def build_prompt(engine, tok, n_tokens):
    """A text that encodes to exactly n_tokens tokens, BOS included."""
    def count(k):
        return len(tokenize(engine, tok, " ".join(["hello"] * k)))
    lo, hi = 0, n_tokens  # count(k) >= k + 1 > n_tokens for k >= n_tokens
    while lo < hi:  # largest k with count(k) <= n_tokens
        mid = (lo + hi + 1) // 2
        if count(mid) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    text = " ".join(["hello"] * lo)
    for _ in range(n_tokens):
        n = len(tokenize(engine, tok, text))
        if n == n_tokens:
            return text
        for filler in (" a", ".", " x", "a", "x", "!"):
            if len(tokenize(engine, tok, text + filler)) <= n_tokens:
                text += filler
                break
        else:
            break
    raise BenchError(f"could not build a prompt of exactly {n_tokens} tokens with {tok}")


def text_50kb(size=50 * 1024):
    """Deterministic single-line prose, mostly ASCII with some accented and CJK words."""
    words = ("the a of and to in was he she it that with for as on his her they at by this had from "
             "not but were all one when there little time upon once day big happy friend said very "
             "could would about into over after before house tree dog cat ball park sun rain water "
             "café naïve résumé 日本 über jalapeño 1234 2023 42").split()
    rng = random.Random(0)
    parts, n = [], 0
    while True:
        w = rng.choice(words)
        if rng.random() < 0.08:
            w += rng.choice([",", ".", "!", "?", ";"])
        if rng.random() < 0.05:
            w = w.capitalize()
        b = len(w.encode()) + 1
        if n + b > size:
            break
        parts.append(w)
        n += b
    text = " ".join(parts)
    return text + "x" * (size - len(text.encode()))


def time_tokenize(engine, tok, reps):
    text = text_50kb()
    ids = tokenize(engine, tok, text)  # warm-up, and the count

    def wall(t):
        data = (t + "\n").encode()
        t0 = time.perf_counter()
        subprocess.run([str(engine), "-m", "tokenize", "-z", str(tok)], input=data,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120)
        return time.perf_counter() - t0
    total = statistics.median(wall(text) for _ in range(reps))
    empty = statistics.median(wall("") for _ in range(reps))
    return dict(bytes=len(text.encode()), tokens=len(ids) - 1, total_ms=total * 1e3, startup_ms=empty * 1e3,
                encode_ms=max(0.0, total - empty) * 1e3)


# ---------------------------------------------------------------------------
# Running things

def rss_probe():
    """Is GNU time there to report a child's peak RSS? os.wait4's ru_maxrss is not enough alone:
    Linux carries the peak of the image a child replaces at exec (here this Python process,
    tens of MB, shared through vfork) into the child's ru_maxrss. /usr/bin/time forks the
    engine from its own small image instead."""
    time_bin = "/usr/bin/time"
    if not os.access(time_bin, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        ok = subprocess.run([time_bin, "-f", "maxrss_kb %M", "-o", out.name, "true"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        return time_bin if ok and re.search(r"maxrss_kb \d+", out.read()) else None


def run_engine(cmd, threads, timeout, time_bin):
    """Run cmd with OMP_NUM_THREADS=threads; returns (exit status, stderr text, peak RSS bytes,
    whether that RSS is exact: False when it is only an upper bound, see rss_probe)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss_file:
        full = [time_bin, "-f", "maxrss_kb %M", "-o", rss_file.name] + cmd if time_bin else cmd
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                             start_new_session=True)

        def kill():
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        except BaseException:
            kill()
            p.wait()
            raise
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
        m = re.search(r"maxrss_kb (\d+)", rss_file.read()) if time_bin else None
    if m:
        return p.returncode, text, int(m.group(1)) * 1024, True
    return p.returncode, text, usage.ru_maxrss * 1024, False  # kB on Linux


def parse_summary(stderr):
    m = None
    for m in SUMMARY_RE.finditer(stderr):
        pass
    if not m:
        return None
    return dict(prompt_n=int(m.group(1)), prompt_tps=float(m.group(2)),
                gen_n=int(m.group(3)), gen_tps=None if m.group(4) == "-" else float(m.group(4)))


def measure_model(engine, tok, label, path, c, bytes_per_weight, threads, args, prompt_text, notes):
    """The median row of one model at one thread count."""
    n_prompt = min(args.prompt_tokens, c["seq_len"])
    n_gen = min(args.gen_tokens, c["seq_len"])
    if n_prompt != args.prompt_tokens:
        raise BenchError(f"{label}: context {c['seq_len']} is shorter than the {args.prompt_tokens}-token prompt")
    base = [str(engine), str(path), "-z", str(tok), "-t", "0"]
    prompt_cmd = base + ["-n", str(n_prompt), "-i", prompt_text]
    decode_cmd = base + ["-n", str(n_gen), "-i", ""]
    prompt_tps, decode_tps, rss, gen_counts, paired_bw = [], [], [], [], []
    meter = CpuMeter()
    for r in range(args.runs):
        for kind, cmd in (("prompt", prompt_cmd), ("decode", decode_cmd)):
            if kind == "decode":  # the machine's bandwidth drifts: measure it on both sides of each decode run
                bw_before = membw_once(threads, PAIRED_MIB, PAIRED_REPS)[0]
            status, stderr, peak, exact = run_engine(cmd, threads, args.timeout, args.time_bin)
            if kind == "decode":
                paired_bw.append(0.5 * (bw_before + membw_once(threads, PAIRED_MIB, PAIRED_REPS)[0]))
            summary = parse_summary(stderr)
            if status != 0 or summary is None:
                last = stderr.strip().splitlines()[-1:] or ["(nothing on stderr)"]
                if status == -9:
                    last = [f"killed: past --timeout {args.timeout:g} s, or out of memory"]
                raise BenchError(f"{label}: {' '.join(cmd[:2])} ... exited {status}: {last[0]}")
            rss.append(peak)
            if kind == "prompt":
                if summary["prompt_n"] != n_prompt:
                    raise BenchError(f"{label}: the prompt was {summary['prompt_n']} tokens, not {n_prompt}")
                prompt_tps.append(summary["prompt_tps"])
            else:
                if summary["gen_tps"] is None:
                    raise BenchError(f"{label}: decoding stopped after {summary['gen_n']} token(s), too few to time")
                decode_tps.append(summary["gen_tps"])
                gen_counts.append(summary["gen_n"])
        log(f"{label:>9} threads {threads} run {r + 1}/{args.runs}: prompt {prompt_tps[-1]:8.1f} tok/s, "
            f"decode {decode_tps[-1]:7.2f} tok/s ({gen_counts[-1]} tokens, bandwidth beside it "
            f"{paired_bw[-1]:.1f} GB/s), peak RSS {rss[-1] / 1e6:.0f} MB")
    if min(gen_counts) < 0.9 * n_gen:
        notes.append(f"{label}, {threads} thread(s): generation stopped early (BOS/EOS) after "
                     f"{min(gen_counts)} of {n_gen} tokens; its decode speed is over those tokens.")
    per_token = decode_bytes_per_token(c, bytes_per_weight)
    decode = statistics.median(decode_tps)
    gbps = per_token * decode / 1e9
    # Each decode run against the bandwidth measured just before it, then the median ratio.
    ratios = [100.0 * per_token * tps / 1e9 / bw for tps, bw in zip(decode_tps, paired_bw) if bw > 0]
    return dict(model=label, threads=threads, weights_mb=(path.stat().st_size - HEADER_SIZE) / 1e6,
                prompt_tps=statistics.median(prompt_tps), decode_tps=decode, decode_gbps=gbps,
                prompt_gflops=2 * layer_matrix_params(c) * statistics.median(prompt_tps) / 1e9,
                bw_pct=statistics.median(ratios) if ratios else None, paired_bw=statistics.median(paired_bw),
                rss_mb=max(rss) / 1e6, others=meter.others())


def ensure_gguf_q8_0(name, c, notes):
    """The same shape as a GGUF file with Q8_0 matrices (llama.cpp's int8 format), written by
    scripts/write_gguf.py on first use. Returns its path, or None with a note."""
    path = BENCH_DIR / f"{name}.q8_0.gguf"
    if path.exists():
        return path
    log(f"writing {path.name} (random weights, Q8_0)")
    cmd = [sys.executable, str(ROOT / "scripts" / "write_gguf.py"), str(path), "--dim", str(c["dim"]),
           "--hidden-dim", str(c["hidden_dim"]), "--layers", str(c["n_layers"]), "--heads", str(c["n_heads"]),
           "--kv-heads", str(c["n_kv_heads"]), "--vocab", str(c["vocab_size"]), "--seq-len", str(c["seq_len"]),
           "--matrix-type", "q8_0"] + c.get("gguf_options", ["--separate-output"])
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        notes.append(f"{name} Q8_0 GGUF skipped: write_gguf.py failed: {result.stderr.strip()[-200:]}")
        return None
    return path


def quantize(engine, src, label, notes):
    """The int8 file `./run quantize` makes of src, and its bytes per weight; None if it fails."""
    dst = src.with_name(src.stem + ".q8.bin")
    dst.unlink(missing_ok=True)
    try:
        out = subprocess.run([str(engine), "quantize", str(src), str(dst)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1800)
        status, why = out.returncode, (out.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        status, why = "timeout", "it ran past 30 minutes"
    header = read_header(dst) if status == 0 and dst.is_file() else None
    if header is None or header[0] != 2 or not header[1] or header[1] <= 0:
        dst.unlink(missing_ok=True)
        if status == 0:
            why = f"its output is not a version 2 checkpoint (header {header})"
        notes.append(f"{label} q8 skipped: `./run quantize` failed (exit {status}: {why}).")
        log(notes[-1])
        return None
    return dst, 1.0 + 4.0 / header[1], header[1]


# GGUF rows written by `./run quantize --type` from the float32 checkpoint: the shapes and
# 4-bit types issue #18 times (Q4_K_M is the usual download; Q4_0 the simplest 4-bit type), and
# Q8_0 beside them at 110M (1.1B has a Q8_0 GGUF row already).
QUANT_TYPES = {"110M": ["q8_0", "q4_0", "q4_k_m"], "1.1B": ["q4_0", "q4_k_m"]}


def quantize_gguf(engine, src, name, qtype, c, notes):
    """(path, bytes per matrix weight) of `./run quantize src NAME.QTYPE.gguf --type QTYPE`, or None.
    Bytes per weight: the file's bytes over every matrix weight (embedding table included)."""
    dst = BENCH_DIR / f"{name}.{qtype}.gguf"
    if not dst.exists():
        log(f"writing {dst.name} (./run quantize --type {qtype})")
        out = subprocess.run([str(engine), "quantize", str(src), str(dst), "--type", qtype],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600)
        if out.returncode != 0:
            dst.unlink(missing_ok=True)
            notes.append(f"{name} {qtype} skipped: `./run quantize --type {qtype}` failed: "
                         f"{out.stderr.decode(errors='replace').strip()[-200:]}")
            return None
    return dst, dst.stat().st_size / n_params(c)


MEMBW = BENCH_DIR / "membw"
PAIRED_MIB, PAIRED_REPS = 512, 5  # the short measurement beside each decode run


def build_tool(exe, optimize, notes, without_openmp):
    """Builds scripts/NAME.c into exe (bench/NAME) unless it is up to date, with OpenMP when the
    compiler has it (else the note without_openmp)."""
    src = ROOT / "scripts" / (exe.name + ".c")
    cc = os.environ.get("CC", "cc")
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        base = [cc, optimize, "-march=native", str(src), "-o", str(exe)]
        if subprocess.run(base[:3] + ["-fopenmp"] + base[3:], stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(base, check=True)
            notes.append(without_openmp)


def build_membw(notes):
    build_tool(MEMBW, "-O3", notes, "membw was built without OpenMP: its bandwidth is for one thread only.")


def membw_once(threads, mib, reps):
    """(best, median) GB/s of one scripts/membw.c run."""
    out = subprocess.run([str(MEMBW), str(threads), str(mib), str(reps)], stdout=subprocess.PIPE, text=True,
                         check=True)
    m = re.search(r"best (\S+) GB/s, median (\S+) GB/s", out.stdout)
    return float(m.group(1)), float(m.group(2))


def membw(args, threads_list, notes):
    """Best GB/s of scripts/membw.c per thread count (and the medians, for the report)."""
    build_membw(notes)
    mib, reps = 1024, (5 if args.quick else 10)
    best, median = {}, {}
    for t in threads_list:
        best[t], median[t] = membw_once(t, mib, reps)
        log(f"membw: {t} thread(s): best {best[t]:.2f} GB/s, median {median[t]:.2f} GB/s")
    return best, median, f"{mib} MiB buffer, best of {reps} reps reading 1, 2, 4 or 8 streams per thread"


PEAK = BENCH_DIR / "peak"
VECTOR_FLAGS = ["avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                "avx512_bf16", "amx_int8"]  # the ones a kernel set could use, in this order


def fma_peak(threads_list, notes):
    """Best GFLOP/s of scripts/peak.c (multiply-adds on the widest vectors) per thread count."""
    build_tool(PEAK, "-O2", notes, "peak was built without OpenMP: its FMA peak is for one thread only.")
    best, how = {}, ""
    for t in threads_list:
        out = subprocess.run([str(PEAK), str(t)], stdout=subprocess.PIPE, text=True, check=True).stdout
        best[t] = float(re.search(r"best (\S+) GFLOP/s", out).group(1))
        how = re.search(r"(\d+-float vectors \(\S+\))", out).group(1)
        log(f"peak: {t} thread(s): best {best[t]:.1f} GFLOP/s, {how}")
    return best, how


def vector_extensions():
    """The CPU's vector extensions a kernel set could use, from /proc/cpuinfo's flags."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return ", ".join(v for v in VECTOR_FLAGS if v in flags) or "none known"


# ---------------------------------------------------------------------------
# Decoding under load

UNDER_LOAD_TINY = "quant/q256.f32.gguf"  # in MODELS_DIR


def measure_under_load(engines, files, args):
    """Decode tok/s beside a busy process: {(label, engine, threads): [tok/s of each run]}.
    One busy process for all the runs; the engines and thread counts take turns in each round."""
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"], stdin=subprocess.DEVNULL)
    speeds = {}
    try:
        for label, path, c, tok in files:
            base = ["-t", "0", "-n", str(min(args.gen_tokens, c["seq_len"])), "-i", ""]
            base += ["-z", str(tok)] if tok else []
            for r in range(args.runs):
                for engine in engines:
                    for t in args.threads:
                        status, stderr, _, _ = run_engine([str(engine), str(path)] + base, t, args.timeout,
                                                          args.time_bin)
                        summary = parse_summary(stderr)
                        tps = summary["gen_tps"] if status == 0 and summary else None
                        speeds.setdefault((label, engine, t), []).append(tps)
                        log(f"under load: {label} {engine} threads {t} run {r + 1}/{args.runs}: "
                            + (f"{tps:.1f} tok/s" if tps else f"failed (exit {status})"))
    finally:
        busy.kill()
        busy.wait()
    return speeds


def under_load_report(engines, files, speeds, args, others_busy):
    def median(v):
        ok = [x for x in v if x is not None]
        return statistics.median(ok) if len(ok) == len(v) else None
    names = [f"{Path(e).parent.name}/{Path(e).name}" for e in engines]
    lines = ["## Decoding beside a busy process", "",
             "| model | threads | " + " | ".join(f"decode tok/s ({n})" for n in names) + " |",
             "|---|--:|" + "--:|" * len(engines)]
    for label, *_ in files:
        for t in args.threads:
            lines.append(f"| {label} | {t} | " + " | ".join(fmt(median(speeds[(label, e, t)]), 1) for e in engines)
                         + " |")
    lines += ["", f"Median of {args.runs} runs; each a greedy decode of {args.gen_tokens} tokens from BOS "
              "(OMP_NUM_THREADS = threads) while `sh -c 'while :; do :; done'` ran beside it; the engines and "
              "thread counts took turns. A dash: a run failed or timed out."]
    if others_busy is not None:
        lines += ["", f"Other processes (the busy loop included) kept {others_busy:.0%} of the CPUs busy."]
    return "\n".join(lines) + "\n"


def under_load_main(args, engine, notes):
    engines = [engine] + ([Path(args.baseline_engine).resolve()] if args.baseline_engine else [])
    args.time_bin = None  # no peak RSS here
    tok = find_tokenizer(notes)
    files = [(name, p, MODELS[name], tok) for name in args.models if MODELS[name].get("arch") != "gpt2"
             for p in [ensure_checkpoint(name, MODELS[name], notes)] if p]
    tiny = models_dir() / UNDER_LOAD_TINY
    if tiny.is_file():
        files.append(("q256 f32 GGUF", tiny, dict(seq_len=256), None))
    meter = CpuMeter()
    speeds = measure_under_load(engines, files, args)
    text = under_load_report(engines, files, speeds, args, meter.others())
    Path(args.output).write_text(text)
    print(text, end="")
    return 0


# ---------------------------------------------------------------------------
# Machine and report

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / 2**30
    except OSError:
        pass
    return None


def cpu_busy_ticks():
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def our_cpu_seconds():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class CpuMeter:
    """How busy other processes keep the CPUs from now on: the CPU time all processes used
    (/proc/stat) less this script's and its children's, as a fraction of all the CPUs' time."""

    def __init__(self):
        self.ticks, self.ours = cpu_busy_ticks(), our_cpu_seconds()

    def others(self):
        ticks, ours = cpu_busy_ticks(), our_cpu_seconds()
        if not self.ticks or not ticks or ticks[1] <= self.ticks[1]:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (ticks[0] - self.ticks[0]) / hz - (ours - self.ours)
        return min(1.0, max(0.0, busy / ((ticks[1] - self.ticks[1]) / hz)))


def engine_version():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "*.c", "*.h", "Makefile"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"commit {head}" + (" + uncommitted changes" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def compiler_version():
    try:
        out = subprocess.run([os.environ.get("CC", "cc"), "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def fmt(v, digits):
    return "–" if v is None else f"{v:,.{digits}f}"


def report(rows, machine, bw_best, bw_median, bw_how, bw_busy, tok_time, args, notes, others_busy, peak):
    lines = ["## Benchmark", ""]
    bw = "; ".join(f"{t} thread{'s' if t > 1 else ''} {bw_best[t]:.1f} GB/s (median {bw_median[t]:.1f})"
                   for t in sorted(bw_best))
    lines += [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['mem']}; "
              f"memory read bandwidth (scripts/membw.c, {bw_how}): {bw}.",
              f"Vector extensions: {machine['vectors']}; FMA peak (scripts/peak.c, {peak[1]}, best of 10): "
              + "; ".join(f"{t} thread{'s' if t > 1 else ''} {peak[0][t]:.0f} GFLOP/s" for t in sorted(peak[0])) + ".",
              f"Engine: {machine['engine']}, {machine['cc']}, {time.strftime('%Y-%m-%d')}.", ""]
    lines += ["| model | threads | weights MB | prompt tok/s | prompt GFLOP/s (% of peak) | decode tok/s | "
              "decode GB/s | membw GB/s | % of bandwidth | peak RSS MB |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    busy_rows = [r for r in rows if (r["others"] or 0) > BUSY_MARK]
    for r in rows:
        mark = " †" if r in busy_rows else ""
        pct = r["prompt_gflops"] / peak[0][r["threads"]] * 100 if peak[0].get(r["threads"]) else None
        lines.append(f"| {r['model']} | {r['threads']}{mark} | {fmt(r['weights_mb'], 0)} | {fmt(r['prompt_tps'], 1)} | "
                     f"{fmt(r['prompt_gflops'], 0)} ({fmt(pct, 0)}%) | {fmt(r['decode_tps'], 1)} | {fmt(r['decode_gbps'], 2)} | {fmt(r['paired_bw'], 1)} | "
                     f"{fmt(r['bw_pct'], 0)} | "
                     f"{fmt(r['rss_mb'], 0)} |")
    shapes = ", ".join(PUBLISHED[m] for m in args.models if any(r["model"].split()[0] == m for r in rows))
    lines += ["", f"Median of {args.runs} run{'s' if args.runs > 1 else ''} each, random weights at the "
              f"published shapes ({shapes}), fp32 unless q8. "
              f"Prompt: one run with a {args.prompt_tokens}-token prompt (BOS included), the engine's timing of its "
              f"forward pass. Prompt GFLOP/s: 2 × the weights in the layers' matrices (q, k, v, output, "
              "feed-forward; not the classifier, run for the last token only, nor attention's scores) × prompt "
              "tok/s, and that as a % of the FMA peak at the same threads. "
              f"Decode: a separate greedy run from BOS generating {args.gen_tokens} tokens one at a "
              "time. Decode GB/s: bytes of weights read per token (all matrices and the classifier, RMSNorm "
              "vectors, one embedding row; not the KV cache) × decode tok/s. % of bandwidth: each decode run's "
              f"GB/s over the bandwidth membw measured beside it ({PAIRED_MIB} MiB, best of {PAIRED_REPS} "
              "reps, same threads, just before and just after the run, the mean of the two; this machine's "
              "bandwidth drifts from minute to minute), median over the runs; "
              "the membw column is the median of those measurements. Peak RSS: the largest of the runs ("
              + ("GNU time's %M" if args.time_bin else "ru_maxrss") + "). MB, GB = 10^6, 10^9 bytes."]
    if tok_time:
        lines += ["", f"Tokenizer: encoding a {tok_time['bytes'] / 1024:.0f} KB single-line prompt "
                  f"({tok_time['tokens']:,} tokens) takes {tok_time['encode_ms']:.1f} ms "
                  f"(`./run -m tokenize` process {tok_time['total_ms']:.1f} ms, of which "
                  f"{tok_time['startup_ms']:.1f} ms start-up with an empty line)."]
    if others_busy is not None:
        busy = f"Other processes kept {others_busy:.0%} of the CPUs busy during the benchmark"
        lines += ["", busy + (": the numbers are noisy, rerun on an idle machine to compare." if others_busy > BUSY_MARK
                              else ".")]
    if busy_rows:
        lines += ["", f"† Other processes kept more than {BUSY_MARK:.0%} of the CPUs busy during this row ("
                  + ", ".join(f"{r['model']}/{r['threads']}: {r['others']:.0%}" for r in busy_rows) + ")."]
    over = [r for r in rows if (r["bw_pct"] or 0) > 100]
    if over:
        lines += ["", "Above 100%: " + ", ".join(f"{r['model']}/{r['threads']}" for r in over) + ". membw's loop "
                  "is a simple bound, not the hardware's ceiling, and a busy machine lowers it further; read such "
                  "rows as \"at the memory bandwidth\"."]
    if bw_busy is not None and bw_busy > BUSY_MARK:
        lines += ["", f"The bandwidth was measured while other processes kept {bw_busy:.0%} of the CPUs busy."]
    for n in notes:
        lines += ["", "Note: " + n]
    return "\n".join(lines) + "\n"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__[
                                     __doc__.index("What it does"):])
    ap.add_argument("--models", help="comma-separated, of " + ", ".join(MODELS) + " (default: "
                    + ",".join(DEFAULT_MODELS) + ", and 1.1B with --large)")
    ap.add_argument("--large", action="store_true", help="also the 1.1B model (or BENCH_LARGE=1)")
    ap.add_argument("--runs", type=int, help="runs per measurement, median taken (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="for testing: 1 run, 64-token prompt and decode")
    ap.add_argument("--threads", help="comma-separated thread counts (default: 1 and every core)")
    ap.add_argument("--prompt-tokens", type=int, help="prompt length, BOS included (default 256; 64 with --quick)")
    ap.add_argument("--gen-tokens", type=int, help="tokens to decode (default 256; 64 with --quick)")
    ap.add_argument("--no-q8", action="store_true", help="do not try `./run quantize`")
    ap.add_argument("--engine", default=str(ROOT / "run"), help="the engine (default ./run)")
    ap.add_argument("--under-load", action="store_true", help="only decoding beside a busy process (see below)")
    ap.add_argument("--baseline-engine", help="with --under-load: an older build, run in turn with --engine")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one engine run may take (default 1800)")
    ap.add_argument("--output", help="where to write the table (default bench/results.md; bench/under_load.md)")
    args = ap.parse_args()
    args.runs = args.runs or (1 if args.quick else 3)
    args.output = args.output or str(BENCH_DIR / ("under_load.md" if args.under_load else "results.md"))
    args.prompt_tokens = args.prompt_tokens or (64 if args.quick else 256)
    args.gen_tokens = args.gen_tokens or (64 if args.quick else 256)
    if args.runs < 1 or args.prompt_tokens < 2 or args.gen_tokens < 2:
        ap.error("--runs must be >= 1, --prompt-tokens and --gen-tokens >= 2")
    if args.models:
        names = {k.lower(): k for k in MODELS}
        args.models = [names.get(m.strip().lower()) or ap.error(f"unknown model '{m}' (know: {', '.join(MODELS)})")
                       for m in args.models.split(",") if m.strip()]
    else:
        large = args.large or os.environ.get("BENCH_LARGE", "") not in ("", "0")
        args.models = DEFAULT_MODELS + (LARGE_MODELS if large else [])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if args.threads:
        try:
            args.threads = sorted({int(t) for t in args.threads.split(",")})
        except ValueError:
            ap.error("--threads takes comma-separated integers")
        if args.threads[0] < 1:
            ap.error("--threads must be >= 1")
    else:
        args.threads = sorted({1, cores})
    args.cores = cores
    return args


def main():
    args = parse_args()
    engine = Path(args.engine).resolve()
    if not (engine.is_file() and os.access(engine, os.X_OK)):
        sys.exit(f"bench: {engine} is missing: build it with `make` first")
    BENCH_DIR.mkdir(exist_ok=True)
    notes = []
    if args.under_load:
        return under_load_main(args, engine, notes)
    t_start = time.perf_counter()
    meter = CpuMeter()

    tok = find_tokenizer(notes)
    args.time_bin = rss_probe()
    # Benchmarked files: (label, path, config, bytes per matrix weight, tokenizer).
    files = []
    for name in args.models:
        c = MODELS[name]
        if c.get("arch") == "gpt2":
            g = ensure_gpt2(name, c, notes)
            if g:  # GPT-2's own vocabulary for both: its prompt is 256 tokens too
                files.append((f"{name} llm.c", g[0], c, 4.0, g[2]))
                files.append((f"{name} Q8_0 GGUF", g[1], c, 34 / 32, g[2]))
            continue
        if "gguf_options" in c:  # a GGUF file alone, with the random vocabulary it embeds
            g = ensure_gguf_q8_0(name, c, notes)
            if g:
                files.append((f"{name} Q8_0 GGUF", g, c, 34 / 32, g))
            continue
        path = ensure_checkpoint(name, c, notes)
        if not path:
            continue
        files.append((name, path, c, 4.0, tok))
        if not args.no_q8:
            q = quantize(engine, path, name, notes)
            if q:
                files.append((f"{name} q8", q[0], c, q[1], tok))
        if not args.no_q8:
            for qtype in QUANT_TYPES.get(name, []):
                g = quantize_gguf(engine, path, name, qtype, c, notes)
                if g:
                    files.append((f"{name} {qtype.upper()}", g[0], c, g[1], tok))
        if name in LARGE_MODELS:
            g = ensure_gguf_q8_0(name, c, notes)
            if g:  # run with tokenizer.bin (same size) so the prompt is the same 256 tokens
                files.append((f"{name} Q8_0 GGUF", g, c, 34 / 32, tok))
    bw_meter = CpuMeter()
    bw_best, bw_median, bw_how = membw(args, args.threads, notes)
    bw_busy = bw_meter.others()
    peak = fma_peak(args.threads, notes)
    prompt_texts = {}  # by tokenizer

    rows = []
    for label, path, c, bpw, vocab in files:
        if vocab not in prompt_texts:
            prompt_texts[vocab] = build_prompt(engine, vocab, args.prompt_tokens)
        with open(path, "rb") as f:  # into the page cache, so that no run reads the disk
            while f.read(1 << 24):
                pass
        for t in args.threads:
            try:
                rows.append(measure_model(engine, vocab, label, path, c, bpw, t, args, prompt_texts[vocab], notes))
            except BenchError as e:
                notes.append(str(e))
                log(str(e))
    tok_time = time_tokenize(engine, tok, 3 if args.quick else 7)

    if not args.time_bin:
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
        notes.append(f"/usr/bin/time (GNU) is absent: peak RSS is the runs' ru_maxrss, which on Linux is at "
                     f"least this script's own peak ({floor:.0f} MB), carried over when the engine is exec'd.")
    others_busy = meter.others()
    mem = mem_total_gb()
    machine = dict(cpu=cpu_model(), cores=args.cores, mem=f"{mem:.0f} GiB RAM" if mem else "RAM unknown",
                   engine=engine_version(), cc=compiler_version(), vectors=vector_extensions())
    text = report(rows, machine, bw_best, bw_median, bw_how, bw_busy, tok_time, args, notes, others_busy, peak)
    Path(args.output).write_text(text)
    print(text, end="")
    log(f"written to {args.output} ({time.perf_counter() - t_start:.0f} s in all)")
    return 0 if rows else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        sys.exit(f"bench: {e}")
    except KeyboardInterrupt:
        sys.exit("bench: interrupted")
