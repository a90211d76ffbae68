"""Generates order lines for the RFM and "also bought" benchmark: N lines over ~N/2.5
orders of N/10 customers, 500 products with skewed popularity and products that go
together. CSV: order,customer,day,sku,amount. Usage: generate.py N OUT.csv [SEED]"""
import sys

import numpy as np
import pandas as pd

n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
orders = n * 2 // 5 + n // 20 + 10  # a margin: sizes are random
customers = max(n // 10, 1)
size = rng.integers(1, 5, orders)                 # 1–4 lines, mean 2.5
size = size[: np.searchsorted(np.cumsum(size), n) + 1]
order_ids = np.repeat(np.arange(size.size), size)[:n]
order_customer = rng.zipf(1.3, size.size) % customers
order_day = rng.integers(0, 730, size.size)
popularity = 1.0 / np.arange(1, 501) ** 0.8
popularity /= popularity.sum()
first = rng.choice(500, size.size, p=popularity)
sku = rng.choice(500, n, p=popularity)
# The first line of an order is its main product; later lines are often its companion.
position = np.arange(n) - np.repeat(np.cumsum(size) - size, size)[:n]
companion = (first[order_ids] * 7 + 3) % 500
sku = np.where(position == 0, first[order_ids], np.where(rng.random(n) < 0.4, companion, sku))
amount = np.round(5 + (np.arange(500)[sku] % 50) * 2.5, 2)
pd.DataFrame({
    "order": order_ids,
    "customer": order_customer[order_ids],
    "day": order_day[order_ids],
    "sku": np.char.add("P", sku.astype(str)),
    "amount": amount,
}).to_csv(out, index=False)
