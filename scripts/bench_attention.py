"""Time the non-local attention: the old formulation vs the current one, dense vs chunked.

Each case is a ``tf.function`` (graph mode, static shapes) of ``theta, phi, g`` of shape
``(1, N, C)``; ``fwd`` returns the attention, ``fwd+bwd`` the loss ``sum(y * dy)`` (fixed
random ``dy``) and its gradient w.r.t. all three inputs. The number is the median of
``--repeats`` timed calls after ``--warmup`` untimed ones.

The ``old_*`` cases are the implementation this package had before (kept here only as the
baseline): the query-axis softmax over axis 1 of ``theta phi^T`` and a chunked path built
on ``tf.map_fn(parallel_iterations=1)`` differentiated by TensorFlow (which keeps every
chunk for the backward pass). The ``alt_*`` cases are formulations that were measured and
not adopted. Run it pinned to one core for comparable numbers::

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 taskset -c 1 \\
        python scripts/bench_attention.py --out scripts/results/bench_attention.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

from rnan_keras.layers.non_local import chunked_attention, dense_attention

# --------------------------------------------------------------------------- baselines


def old_dense(theta, phi, g, softmax_axis):
    f = tf.matmul(theta, phi, transpose_b=True)  # (B, N_query, N_key)
    p = tf.nn.softmax(f, axis=1 if softmax_axis == "query" else 2)
    return tf.matmul(p, g)


def _old_split(x, chunk):
    n = tf.shape(x)[1]
    x = tf.pad(x, [[0, 0], [0, (-n) % chunk], [0, 0]])
    b, c = tf.shape(x)[0], tf.shape(x)[2]
    return tf.transpose(tf.reshape(x, [b, -1, chunk, c]), [1, 0, 2, 3])


def _old_merge(x, n):
    x = tf.transpose(x, [1, 0, 2, 3])
    return tf.reshape(x, [tf.shape(x)[0], -1, tf.shape(x)[3]])[:, :n]


def old_chunked(theta, phi, g, softmax_axis, chunk_size):
    n = tf.shape(theta)[1]
    if softmax_axis == "query":

        def key_lse(phi_chunk):
            return tf.reduce_logsumexp(tf.matmul(theta, phi_chunk, transpose_b=True), axis=1)

        lse = tf.map_fn(
            key_lse,
            _old_split(phi, chunk_size),
            fn_output_signature=tf.TensorSpec([None, chunk_size], tf.float32),
            parallel_iterations=1,
        )
        lse = tf.reshape(tf.transpose(lse, [1, 0, 2]), [tf.shape(theta)[0], -1])[:, :n]
        lse = lse[:, tf.newaxis, :]

        def query_rows(theta_chunk):
            f = tf.matmul(theta_chunk, phi, transpose_b=True)
            return tf.matmul(tf.exp(f - lse), g)
    else:

        def query_rows(theta_chunk):
            f = tf.matmul(theta_chunk, phi, transpose_b=True)
            return tf.matmul(tf.nn.softmax(f, axis=-1), g)

    out = tf.map_fn(
        query_rows,
        _old_split(theta, chunk_size),
        fn_output_signature=tf.TensorSpec([None, chunk_size, None], tf.float32),
        parallel_iterations=1,
    )
    return _old_merge(out, n)


# ------------------------------------------------------------- alternatives not adopted


def alt_fused(theta, phi, g, softmax_axis):
    """exp / sum written out; the normaliser is applied to the N x C side, not N x N."""
    if softmax_axis == "query":
        f = tf.matmul(phi, theta, transpose_b=True)  # (B, N_key, N_query)
        e = tf.exp(f - tf.reduce_max(f, axis=-1, keepdims=True))
        s = tf.reduce_sum(e, axis=-1, keepdims=True)  # per key
        return tf.matmul(e, g / s, transpose_a=True)
    f = tf.matmul(theta, phi, transpose_b=True)
    e = tf.exp(f - tf.reduce_max(f, axis=-1, keepdims=True))
    return tf.matmul(e, g) / tf.reduce_sum(e, axis=-1, keepdims=True)


def alt_dense_autograd(theta, phi, g, softmax_axis):
    """Softmax over the contiguous axis like ``dense``, backward left to TensorFlow."""
    if softmax_axis == "query":
        p_t = tf.nn.softmax(tf.matmul(phi, theta, transpose_b=True))  # (B, N_key, N_query)
        return tf.matmul(p_t, g, transpose_a=True)
    return tf.matmul(tf.nn.softmax(tf.matmul(theta, phi, transpose_b=True)), g)


# ----------------------------------------------------------------------------- harness


def cases(chunks: list[int], xla: bool) -> dict:
    out = {
        "old_dense": (old_dense, False),
        "dense": (dense_attention, False),
        "alt_dense_fused": (alt_fused, False),
        "alt_dense_autograd": (alt_dense_autograd, False),
    }
    if xla:
        out["dense_xla"] = (dense_attention, True)
    out["old_chunked_1024"] = (lambda t, p, g, a: old_chunked(t, p, g, a, 1024), False)
    for c in chunks:
        out[f"chunked_{c}"] = (lambda t, p, g, a, c=c: chunked_attention(t, p, g, a, c), False)
    if xla:
        c = chunks[len(chunks) // 2]
        out[f"chunked_{c}_xla"] = (
            lambda t, p, g, a, c=c: chunked_attention(t, p, g, a, c),
            True,
        )
    return out


def make_fn(attention, axis: str, backward: bool, jit: bool):
    if not backward:
        return tf.function(lambda t, p, g, dy: attention(t, p, g, axis), jit_compile=jit)

    def fwd_bwd(t, p, g, dy):
        with tf.GradientTape() as tape:
            tape.watch([t, p, g])
            loss = tf.reduce_sum(attention(t, p, g, axis) * dy)
        # Return the loss too: a gradient that does not need y would let TF prune the forward.
        return loss, tape.gradient(loss, [t, p, g])

    return tf.function(fwd_bwd, jit_compile=jit)


def time_fn(fn, args, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        _ = [x.numpy() for x in tf.nest.flatten(fn(*args))]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _ = [x.numpy() for x in tf.nest.flatten(fn(*args))]
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 96], help="tile side T")
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 8])
    parser.add_argument("--axes", nargs="+", default=["query", "key"])
    parser.add_argument("--chunks", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--no-xla", action="store_true", help="skip the jit_compile cases")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="TF intra/inter-op threads")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    all_cases = cases(args.chunks, not args.no_xla)
    names = [n for n in all_cases if not args.only or n in args.only]
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'axis':6} {'T':>3} {'N':>5} {'C':>3} {'case':24} {'fwd s':>8} {'fwd+bwd s':>10}")
    for axis in args.axes:
        for side in args.sizes:
            n = side * side
            for c in args.channels:
                t, p, g, dy = (
                    tf.constant(rng.normal(0.0, 0.5, (1, n, c)).astype("float32"))
                    for _ in range(4)
                )
                for name in names:
                    attention, jit = all_cases[name]
                    row = {"axis": axis, "side": side, "n": n, "c": c, "case": name}
                    for key, backward in (("fwd", False), ("fwd_bwd", True)):
                        fn = make_fn(attention, axis, backward, jit)
                        median, best = time_fn(fn, (t, p, g, dy), args.warmup, args.repeats)
                        row[f"{key}_s"], row[f"{key}_min_s"] = median, best
                    rows.append(row)
                    print(
                        f"{axis:6} {side:3d} {n:5d} {c:3d} {name:24} {row['fwd_s']:8.4f} "
                        f"{row['fwd_bwd_s']:10.4f}",
                        flush=True,
                    )
    if args.out:
        meta = {
            "tensorflow": tf.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_affinity": sorted(os.sched_getaffinity(0)),
            "tf_threads": args.threads,
            "loadavg_at_end": os.getloadavg(),
            "repeats": args.repeats,
            "warmup": args.warmup,
            "statistic": "*_s: median, *_min_s: fastest; seconds per call, batch 1, float32, graph",
            "command": " ".join(sys.argv),
        }
        with open(args.out, "w") as handle:
            json.dump({"meta": meta, "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
