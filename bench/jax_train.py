"""Benchmark (not a test): the model and optimizer of `overtrain train`'s default config in
JAX on the CPU, the whole train step (forward, backward, global-norm clip, AdamW) jit-compiled,
timed over STEPS steps after warm-up. Run by bench/train_vs_jax.sh; prints one JSON line.

The model follows README.md "Model details for a re-implementation": byte tokens, learned
positions, pre-norm LayerNorm (eps 1e-5 inside the square root, biased variance), fused
qkv [d, 3d], causal softmax attention with scale 1/sqrt(hs), tanh-GELU MLP, final LayerNorm,
tied head (logits = lnf(x) . wte^T), no biases in linear layers, mean softmax cross-entropy.
AdamW beta 0.9/0.95, eps 1e-8, decoupled weight decay 0.1 on the four weight matrices of
each layer only, global-norm clip to 1.0 (exactly clip/|g|), cosine schedule with linear
warmup (5%) and peak lr 3e-3. The weights are initialised like overtrain's (N(0, 0.02),
N(0, 0.02/sqrt(2 n_layer)) for the output projections) but not bit-for-bit, and the bytes
are random: neither changes the time of a step.

usage: python3 bench/jax_train.py [--steps 300] [--warmup 20] [--batch 32]
"""

import argparse
import json
import math
import os
import time

T_START = time.perf_counter()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

N_LAYER, D, N_HEAD, D_FF, CTX, VOCAB = 2, 32, 4, 128, 64, 256
EPS_NORM = 1e-5
BETA1, BETA2, EPS = 0.9, 0.95, 1e-8
LR, WD, CLIP, WARMUP_FRACTION = 3e-3, 0.1, 1.0, 0.05


def init(seed):
    rng = np.random.default_rng(seed)

    def normal(shape, std):
        return jnp.asarray(rng.normal(0.0, std, shape), dtype=jnp.float32)

    proj_std = 0.02 / math.sqrt(2 * N_LAYER)
    params = {"wte": normal((VOCAB, D), 0.02), "wpe": normal((CTX, D), 0.02)}
    for i in range(N_LAYER):
        params[f"h{i}"] = {
            "ln1_g": jnp.ones(D, jnp.float32),
            "ln1_b": jnp.zeros(D, jnp.float32),
            "qkv": normal((D, 3 * D), 0.02),
            "proj": normal((D, D), proj_std),
            "ln2_g": jnp.ones(D, jnp.float32),
            "ln2_b": jnp.zeros(D, jnp.float32),
            "fc": normal((D, D_FF), 0.02),
            "mlp_proj": normal((D_FF, D), proj_std),
        }
    params["lnf_g"] = jnp.ones(D, jnp.float32)
    params["lnf_b"] = jnp.zeros(D, jnp.float32)
    return params


def decay_mask(params):
    """1.0 on the weight matrices that get weight decay, 0.0 elsewhere (as a pytree)."""
    decayed = {"qkv", "proj", "fc", "mlp_proj"}

    def mark(path, _):
        return 1.0 if getattr(path[-1], "key", None) in decayed else 0.0

    return jax.tree_util.tree_map_with_path(mark, params)


def layernorm(x, g, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + EPS_NORM) * g + b


def gelu(x):
    s = 0.7978846  # sqrt(2/pi)
    return 0.5 * x * (1.0 + jnp.tanh(s * (x + 0.044715 * x * x * x)))


def loss_fn(params, tokens, targets):
    b, t = tokens.shape
    hs = D // N_HEAD
    # The residual stream as (B*T, D) rows: XLA's CPU backend runs 2-D dots through its
    # fast matmul, while dots over (B, T, D) with contractions over two batch dims are slow.
    x = (params["wte"][tokens] + params["wpe"][:t]).reshape(b * t, D)
    mask = jnp.tril(jnp.ones((t, t), bool))
    for i in range(N_LAYER):
        p = params[f"h{i}"]
        qkv = layernorm(x, p["ln1_g"], p["ln1_b"]) @ p["qkv"]
        q, k, v = jnp.split(qkv, 3, axis=-1)
        q, k, v = (a.reshape(b, t, N_HEAD, hs).transpose(0, 2, 1, 3) for a in (q, k, v))
        scores = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(hs))
        scores = jnp.where(mask, scores, -jnp.inf)
        att = jax.nn.softmax(scores, axis=-1)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(b * t, D)
        x = x + y @ p["proj"]
        h = gelu(layernorm(x, p["ln2_g"], p["ln2_b"]) @ p["fc"])
        x = x + h @ p["mlp_proj"]
    logits = layernorm(x, params["lnf_g"], params["lnf_b"]) @ params["wte"].T
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets.reshape(b * t, 1), axis=-1).mean()


def make_step(mask):
    @jax.jit
    def step(params, m, v, t, lr, tokens, targets):
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens, targets)
        leaves = jax.tree_util.tree_leaves(grads)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in leaves))
        scale = jnp.where(norm > CLIP, CLIP / norm, 1.0)
        t = t + 1
        bc1 = 1.0 - BETA1**t
        bc2 = 1.0 - BETA2**t

        def update(w, g, m, v, decay):
            g = g * scale
            m = BETA1 * m + (1.0 - BETA1) * g
            v = BETA2 * v + (1.0 - BETA2) * g * g
            w = w - lr * ((m / bc1) / (jnp.sqrt(v / bc2) + EPS) + decay * WD * w)
            return w, m, v

        out = jax.tree_util.tree_map(update, params, grads, m, v, mask)
        is_triple = lambda x: isinstance(x, tuple)  # noqa: E731
        params = jax.tree_util.tree_map(lambda o: o[0], out, is_leaf=is_triple)
        m = jax.tree_util.tree_map(lambda o: o[1], out, is_leaf=is_triple)
        v = jax.tree_util.tree_map(lambda o: o[2], out, is_leaf=is_triple)
        return params, m, v, t, loss

    return step


def cosine_lr(step, steps):
    """overtrain's cosine schedule (transformer/schedule.rs): s = step + 1."""
    w = math.ceil(WARMUP_FRACTION * steps)
    s = step + 1
    if s <= w:
        return LR * s / w
    return LR * 0.5 * (1.0 + math.cos(math.pi * (s - w) / max(steps - w, 1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    b = args.batch
    params = init(args.seed)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    mask = decay_mask(params)
    step = make_step(mask)
    rng = np.random.default_rng(args.seed + 1)
    total = args.warmup + args.steps
    data = rng.integers(0, VOCAB, (total, b, CTX + 1), dtype=np.int32)
    t = jnp.zeros((), jnp.float32)

    def run(i, params, m, v, t):
        rows = data[i]
        return step(params, m, v, t, jnp.float32(cosine_lr(i, total)), rows[:, :-1], rows[:, 1:])

    t_compile = time.perf_counter()
    for i in range(args.warmup):
        params, m, v, t, loss = run(i, params, m, v, t)
    loss.block_until_ready()
    t0 = time.perf_counter()
    losses = []
    for i in range(args.warmup, total):
        params, m, v, t, loss = run(i, params, m, v, t)
        losses.append(loss)
    jax.block_until_ready((params, losses))
    t1 = time.perf_counter()
    tokens = args.steps * b * CTX
    print(
        json.dumps(
            {
                "jax": jax.__version__,
                "threads_hint": os.environ.get("XLA_FLAGS", ""),
                "steps": args.steps,
                "tokens_per_s": tokens / (t1 - t0),
                "ms_per_step": (t1 - t0) * 1e3 / args.steps,
                "start_and_warmup_s": t0 - T_START,
                "compile_and_warmup_s": t0 - t_compile,
                "last_loss": float(losses[-1]),
            }
        )
    )


if __name__ == "__main__":
    main()
