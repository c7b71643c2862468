"""Benchmark (not a test): the model and optimizer of `overtrain train`'s default config in
JAX on the CPU, written the plain way — optax's AdamW behind its global-norm clipping, one
jitted step — and timed over STEPS steps after warm-up. Run by bench/train_vs_jax.sh; prints
one JSON line. A fair peer must be at least as fast as ../shared/peers/jax_optax_gpt.py, the
plainest version of this model (README, "Against JAX").

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
import optax  # noqa: E402

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
    """True on the weight matrices that get weight decay (as a pytree), for optax's mask."""
    decayed = {"qkv", "proj", "fc", "mlp_proj"}
    return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", None) in decayed, params)


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
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets.reshape(b * t)).mean()


def cosine_lr(total):
    """overtrain's cosine schedule (transformer/schedule.rs) of optax's update count: s = count + 1."""
    w = math.ceil(WARMUP_FRACTION * total)

    def lr(count):
        s = count + 1
        cosine = LR * 0.5 * (1.0 + jnp.cos(math.pi * (s - w) / max(total - w, 1)))
        return jnp.where(s <= w, LR * s / w, cosine)

    return lr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    b = args.batch
    params = init(args.seed)
    total = args.warmup + args.steps
    opt = optax.chain(
        optax.clip_by_global_norm(CLIP),
        optax.adamw(cosine_lr(total), b1=BETA1, b2=BETA2, eps=EPS, weight_decay=WD, mask=decay_mask(params)),
    )
    state = opt.init(params)

    @jax.jit
    def step(params, state, tokens, targets):
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens, targets)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    rng = np.random.default_rng(args.seed + 1)
    data = rng.integers(0, VOCAB, (total, b, CTX + 1), dtype=np.int32)

    def run(i, params, state):
        rows = data[i]
        return step(params, state, rows[:, :-1], rows[:, 1:])

    t_compile = time.perf_counter()
    for i in range(args.warmup):
        params, state, loss = run(i, params, state)
    loss.block_until_ready()
    t0 = time.perf_counter()
    losses = []
    for i in range(args.warmup, total):
        params, state, loss = run(i, params, state)
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
