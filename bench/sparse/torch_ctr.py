#!/usr/bin/python3
"""bench/sparse's PyTorch peer: psd's dlrm (docs/ctr-models.md) trained in one process.

Reads the same Criteo TSV files as psd (plain or gzip) with the same rules (docs/sparse.md):
dense feature j is log(1 + x) for x >= 0 (a negative or empty x is 0); categorical field f's
hex hash h is the key (f << 56) | h, an empty field the field's missing key. One
nn.EmbeddingBag(mode='sum' or 'mean', sparse=True) per field (one key per field per row), the
bags concatenated after the dense features, an MLP of `--hidden` ReLU layers and a linear
logit, binary cross-entropy averaged over the batch. Rows start uniform in
[-init_scale, init_scale) and dense weights and biases uniform in +-1/sqrt(fan_in), as psd's.
Row optimizer: Adagrad on the touched rows (RowAdagrad below, or torch.optim.Adagrad's
sparse path) or SparseAdam (psd's lazy_adam) or SGD; dense
optimizer: Adagrad or SGD or Adam. Keys only in the test files get rows that are never
trained (psd answers them with their initial value). An epoch is whole batches only, as psd's.

Prints one line per --threads value, `torch: N steps, S samples/s (train loop), P samples/s
with parsing, test_auc A logloss L, ...`, and with --json writes the figures there (a list).
"""
import argparse
import gzip
import json
import math
import time

import numpy as np
import torch
from torch import nn


def open_text(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path, "rt")


def read_criteo(paths, dense_dim, fields, vocab):
    """Labels [N], dense [N, dense_dim] float32, indices [N, fields] int64 (into vocab[f])."""
    labels, dense, idx = [], [], []
    for path in paths:
        with open_text(path) as f:
            for line in f:
                cols = line.rstrip("\r\n").split("\t")
                if len(cols) != 1 + dense_dim + fields:
                    raise SystemExit(f"{path}: a row of {len(cols)} columns")
                labels.append(float(cols[0]))
                row = []
                for j in range(dense_dim):
                    c = cols[1 + j]
                    x = int(c) if c else 0
                    row.append(math.log1p(x) if x > 0 else 0.0)
                dense.append(row)
                keys = []
                for fi in range(fields):
                    c = cols[1 + dense_dim + fi]
                    # The key rule: a hash, or the field's missing key (-1 here).
                    h = int(c, 16) if c else -1
                    v = vocab[fi]
                    k = v.get(h)
                    if k is None:
                        k = len(v)
                        v[h] = k
                    keys.append(k)
                idx.append(keys)
    return (np.asarray(labels, dtype=np.float32), np.asarray(dense, dtype=np.float32),
            np.asarray(idx, dtype=np.int64))


def exact_auc(scores, labels):
    """Mann-Whitney U with ties counted one half (average ranks)."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), dtype=np.float64)
    n = len(s)
    # Average rank of each run of equal scores.
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [n]))
    for a, b in zip(starts, ends):
        ranks[a:b] = (a + b + 1) / 2.0  # 1-based ranks a+1 .. b
    y = labels[order]
    pos = float(y.sum())
    neg = n - pos
    if pos == 0 or neg == 0:
        return float("nan")
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


class RowAdagrad:
    """Adagrad on the touched rows of sparse gradients, psd's row rule (server/row_optimizer.cc):
    a += g^2; w -= lr g / (sqrt(a) + eps). torch.optim.Adagrad computes the same for sparse
    gradients (--row_optimizer torch_adagrad) but takes about a second per step here, with 26
    tables: its sparse_mask and sparse adds are slow in torch 1.13."""

    def __init__(self, params, lr, eps, initial_accumulator=0.0):
        self.params = list(params)
        self.lr, self.eps = lr, eps
        self.acc = [torch.full_like(p, initial_accumulator) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        for p, acc in zip(self.params, self.acc):
            if p.grad is None:
                continue
            g = p.grad.coalesce()
            idx, v = g.indices()[0], g.values()
            a = acc.index_select(0, idx).add_(v * v)
            acc.index_copy_(0, idx, a)
            p.index_add_(0, idx, v.div_(a.sqrt_().add_(self.eps)).mul_(-self.lr))


class Dlrm(nn.Module):
    def __init__(self, sizes, dense_dim, dim, hidden, pooling, init_scale):
        super().__init__()
        self.bags = nn.ModuleList(
            nn.EmbeddingBag(n, dim, mode=pooling, sparse=True) for n in sizes)
        for b in self.bags:
            nn.init.uniform_(b.weight, -init_scale, init_scale)
        widths = [dense_dim + len(sizes) * dim] + hidden + [1]
        layers = []
        for i in range(len(widths) - 1):
            lin = nn.Linear(widths[i], widths[i + 1])
            bound = 1.0 / math.sqrt(widths[i])
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.uniform_(lin.bias, -bound, bound)
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)

    def forward(self, dense, idx):
        parts = [dense] + [bag(idx[:, f:f + 1]) for f, bag in enumerate(self.bags)]
        return self.mlp(torch.cat(parts, dim=1)).squeeze(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", nargs="+", required=True)
    p.add_argument("--test", nargs="+", required=True)
    p.add_argument("--dense", type=int, default=13)
    p.add_argument("--fields", type=int, default=26)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--hidden", default="64,32")
    p.add_argument("--pooling", default="sum", choices=["sum", "mean"])
    p.add_argument("--init_scale", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--keep_last", action="store_true",
                   help="also train the last, partial batch of an epoch (psd drops it)")
    p.add_argument("--row_optimizer", default="adagrad",
                   choices=["adagrad", "torch_adagrad", "lazy_adam", "sgd"])
    p.add_argument("--row_lr", type=float, default=0.02)
    p.add_argument("--optimizer", default="adagrad", choices=["adagrad", "adam", "sgd"])
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--epsilon", type=float, default=1e-8)
    p.add_argument("--threads", default="1",
                   help="torch threads; a comma list trains once per value (parsing once)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default="")
    a = p.parse_args()

    t0 = time.time()
    vocab = [dict() for _ in range(a.fields)]
    y_tr, x_tr, k_tr = read_criteo(a.train, a.dense, a.fields, vocab)
    y_te, x_te, k_te = read_criteo(a.test, a.dense, a.fields, vocab)
    parse_s = time.time() - t0
    sizes = [max(1, len(v)) for v in vocab]
    # The share of the parsing that is the train rows', for samples/s with parsing.
    train_parse_s = parse_s * len(y_tr) / (len(y_tr) + len(y_te))
    runs = []
    for threads in [int(t) for t in str(a.threads).split(",") if t]:
        r = train(a, threads, sizes, (y_tr, x_tr, k_tr), (y_te, x_te, k_te))
        r["samples_per_s_with_parse"] = r["samples"] / (r["train_s"] + train_parse_s)
        r["parse_s"] = parse_s
        runs.append(r)
        print(f"torch: {r['steps']} steps, {r['samples_per_s']:.0f} samples/s (train loop), "
              f"{r['samples_per_s_with_parse']:.0f} samples/s with parsing, test_auc "
              f"{r['test_auc']:.4f} logloss {r['test_logloss']:.4f}, {r['rows']} rows, "
              f"{threads} threads", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(runs, f)


def train(a, threads, sizes, train_set, test_set):
    """Trains a fresh model (the same seed) on `threads` threads; returns its figures."""
    y_tr, x_tr, k_tr = train_set
    y_te, x_te, k_te = test_set
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    hidden = [int(h) for h in a.hidden.split(",") if h]
    model = Dlrm(sizes, a.dense, a.dim, hidden, a.pooling, a.init_scale)
    rows = list(model.bags.parameters())
    dense = list(model.mlp.parameters())
    if a.row_optimizer == "adagrad":
        row_opt = RowAdagrad(rows, lr=a.row_lr, eps=a.epsilon)
    elif a.row_optimizer == "torch_adagrad":
        row_opt = torch.optim.Adagrad(rows, lr=a.row_lr, eps=a.epsilon)
    elif a.row_optimizer == "lazy_adam":
        row_opt = torch.optim.SparseAdam(rows, lr=a.row_lr, eps=a.epsilon)
    else:
        row_opt = torch.optim.SGD(rows, lr=a.row_lr)
    if a.optimizer == "adagrad":
        dense_opt = torch.optim.Adagrad(dense, lr=a.lr, eps=a.epsilon)
    elif a.optimizer == "adam":
        dense_opt = torch.optim.Adam(dense, lr=a.lr, eps=a.epsilon)
    else:
        dense_opt = torch.optim.SGD(dense, lr=a.lr)
    loss_fn = nn.BCEWithLogitsLoss()  # mean over the batch
    X, K, Y = torch.from_numpy(x_tr), torch.from_numpy(k_tr), torch.from_numpy(y_tr)
    n = len(Y)
    if not a.keep_last:
        n -= n % a.batch  # psd's planned steps: whole batches only
    steps = 0
    t1 = time.time()
    for _ in range(a.epochs):
        for s in range(0, n, a.batch):
            xb, kb, yb = X[s:s + a.batch], K[s:s + a.batch], Y[s:s + a.batch]
            row_opt.zero_grad()
            dense_opt.zero_grad()
            loss = loss_fn(model(xb, kb), yb)
            loss.backward()
            row_opt.step()
            dense_opt.step()
            steps += 1
    train_s = time.time() - t1
    with torch.no_grad():
        z = torch.cat([
            model(torch.from_numpy(x_te[s:s + 65536]), torch.from_numpy(k_te[s:s + 65536]))
            for s in range(0, len(y_te), 65536)
        ]).double().numpy()
    prob = np.clip(1 / (1 + np.exp(-z)), 1e-15, 1 - 1e-15)
    logloss = float(-np.mean(y_te * np.log(prob) + (1 - y_te) * np.log(1 - prob)))
    auc = exact_auc(z, y_te.astype(np.float64))
    samples = n * a.epochs
    return {
        "samples": samples,
        "samples_per_s": samples / train_s,
        "train_s": train_s,
        "steps": steps,
        "test_auc": auc,
        "test_logloss": logloss,
        "rows": int(sum(sizes)),
        "threads": threads,
    }


if __name__ == "__main__":
    main()
