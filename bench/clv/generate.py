"""Generates customers' purchase histories from the BG/NBD and Gamma-Gamma processes with
the CDNOW parameters, as a summary CSV (frequency, recency, T in weeks; monetary_value),
for the CLV benchmark. Usage: generate.py N OUT.csv [SEED]"""
import sys

import numpy as np

n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
r, alpha, a, b = 0.2426, 4.4135, 0.7929, 2.4258
p_gg, q_gg, gamma_gg = 6.25, 3.74, 15.44

lam = rng.gamma(r, 1.0 / alpha, n)          # purchase rate per week
drop = rng.beta(a, b, n)                     # dropout probability after each purchase
age = np.round(rng.integers(26 * 7, 78 * 7, n) / 7.0, 2)  # weeks since the first purchase

x = np.zeros(n, dtype=np.int64)
t_x = np.zeros(n)
t = np.zeros(n)
alive = np.ones(n, dtype=bool)
while alive.any():
    idx = np.flatnonzero(alive)
    t[idx] += rng.exponential(1.0 / np.maximum(lam[idx], 1e-12))
    past = t[idx] > age[idx]
    alive[idx[past]] = False
    buy = idx[~past]
    x[buy] += 1
    t_x[buy] = t[buy]
    gone = rng.random(buy.size) < drop[buy]
    alive[buy[gone]] = False

# Recency in whole days, as transaction data gives it.
recency = np.where(x > 0, np.minimum(np.round(np.floor(t_x * 7) / 7.0, 2), age), 0.0)
nu = rng.gamma(q_gg, 1.0 / gamma_gg, n)
monetary = np.where(x > 0, rng.gamma(p_gg * np.maximum(x, 1), 1.0 / nu) / np.maximum(x, 1), 0.0)
monetary = np.round(monetary, 2)
with open(out, "w") as f:
    f.write("frequency,recency,T,monetary_value\n")
    for row in zip(x, recency, age, monetary):
        f.write("%d,%.2f,%.2f,%.2f\n" % row)
