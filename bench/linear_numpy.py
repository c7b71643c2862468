"""A straightforward numpy implementation of the linear-lab experiment (science.md §2),
the baseline of the benchmark in README. Same config schema as `overtrain linear`.

usage: python3 bench/linear_numpy.py CONFIG.json [--repeat N] [--dtype float32|float64] [--out R.json]
Prints the median wall time of N full runs.
"""
import argparse, json, statistics, time
import numpy as np


def spectrum(spec, d):
    if spec["kind"] == "power":
        return np.arange(1, d + 1, dtype=np.float64) ** (-spec["exponent"])
    if spec["kind"] == "flat":
        return np.full(d, spec["value"], dtype=np.float64)
    return np.asarray(spec["values"], dtype=np.float64)


def random_orthogonal(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def run(cfg, dtype):
    d, h = cfg["dim"], cfg["hidden"]
    rng = np.random.default_rng(cfg["seed"])
    if cfg["basis"] == "identity":
        u = v = np.eye(d)
    else:
        u, v = random_orthogonal(d, rng), random_orthogonal(d, rng)
    s_pre = spectrum(cfg["pretrain"]["spectrum"], d)
    s_ft = spectrum(cfg["finetune"]["spectrum"], d)
    a_pre = ((u * s_pre) @ v.T).astype(dtype)
    a_ft = ((u * s_ft) @ v.T).astype(dtype)
    eps = cfg["init_scale"]
    w1 = np.eye(d, h, dtype=dtype) * eps
    w2 = np.eye(h, d, dtype=dtype) * eps
    pt = cfg["pretrain"]
    checkpoints = []
    for step in range(pt["steps"] + 1):
        if step > 0:
            g = 2 * (w1 @ w2 - a_pre)
            w1, w2 = w1 - pt["lr"] * g @ w2.T, w2 - pt["lr"] * w1.T @ g
        if step % pt["checkpoint_every"] == 0 or step == pt["steps"]:
            checkpoints.append((step, w1.copy(), w2.copy()))

    out = {"steps": [c[0] for c in checkpoints], "pretrain_loss": [], "perturb": [], "finetune": []}
    for _, c1, c2 in checkpoints:
        out["pretrain_loss"].append(float(np.sum((c1 @ c2 - a_pre) ** 2)))
    m = cfg["perturb"]["samples"]
    z1 = rng.standard_normal((m, d, h)).astype(dtype)
    z2 = rng.standard_normal((m, h, d)).astype(dtype)
    for gamma in cfg["perturb"]["gammas"]:
        mean = []
        for _, c1, c2 in checkpoints:
            losses = [np.sum(((c1 + gamma * z1[i]) @ (c2 + gamma * z2[i]) - a_pre) ** 2) for i in range(m)]
            mean.append(float(np.mean(losses)))
        out["perturb"].append({"gamma": gamma, "mean_loss": mean})
    ft = cfg["finetune"]
    for lam in ft["l2"]:
        for lr in ft["lrs"]:
            pre, fin = [], []
            for _, c1, c2 in checkpoints:
                theta0 = c1 @ c2
                w1, w2 = c1.copy(), c2.copy()
                for _ in range(ft["steps"]):
                    theta = w1 @ w2
                    g = 2 * (theta - a_ft) + 2 * lam * (theta - theta0)
                    w1, w2 = w1 - lr * g @ w2.T, w2 - lr * w1.T @ g
                theta = w1 @ w2
                pre.append(float(np.sum((theta - a_pre) ** 2)))
                fin.append(float(np.sum((theta - a_ft) ** 2)))
            out["finetune"].append({"lr": lr, "l2": lam, "pretrain_loss": pre, "finetune_loss": fin})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--out")
    a = p.parse_args()
    cfg = json.load(open(a.config))
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        out = run(cfg, np.dtype(a.dtype))
        times.append(time.perf_counter() - t)
    if a.out:
        json.dump(out, open(a.out, "w"))
    print(json.dumps({"numpy_median_ms": 1e3 * statistics.median(times), "repeat": a.repeat,
                      "dtype": a.dtype, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
