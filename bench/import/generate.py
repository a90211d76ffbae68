"""Writes a shop's history for bench/import/run.sh: N customers, about three order lines per
customer in N orders, 500 products — once as Aftercare's JSON Lines (what `aftercare
import` reads) and once as CSV of the same rows (what PostgreSQL's COPY reads).
Usage: generate.py N OUT_DIR"""
import json
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
first = ["Anna", "Pieter", "Sanne", "Jan", "Fleur", "Daan", "Emma", "Lucas", "Julia", "Sem"]
last = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Peeters", "Maes", "Janssens"]
locales = ["nl-NL", "nl-BE", "en", "fr-BE"]

with open(f"{out}/products.jsonl", "w") as pj, open(f"{out}/products.csv", "w") as pc:
    for p in range(500):
        sku, price = f"SKU-{p:04d}", 500 + (p * 37) % 15000
        pj.write(json.dumps({"sku": sku, "name": f"Product {p}", "category": "general", "price_cents": price}) + "\n")
        pc.write(f"{sku},Product {p},general,{price}\n")

lines = 0
with open(f"{out}/customers.jsonl", "w") as cj, open(f"{out}/customers.csv", "w") as cc, \
        open(f"{out}/orders.jsonl", "w") as oj, open(f"{out}/orders.csv", "w") as oc, \
        open(f"{out}/lines.csv", "w") as lc:
    for c in range(n):
        cid = f"C{c:08d}"
        f, l, loc = rng.choice(first), rng.choice(last), rng.choice(locales)
        email = f"c{c}@example.nl"
        cj.write(json.dumps({"external_id": cid, "email": email, "first_name": f, "last_name": l, "locale": loc}) + "\n")
        cc.write(f"{cid},{email},{f},{l},{loc}\n")
        oid = f"W{c:08d}"
        day = 1 + rng.randrange(300)
        placed = f"2025-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T10:00:00Z"
        order_lines = []
        for _ in range(1 + rng.randrange(5)):  # 1 to 5 lines, three on average
            sku = f"SKU-{rng.randrange(500):04d}"
            q, price = 1 + rng.randrange(2), 500 + rng.randrange(10000)
            order_lines.append({"sku": sku, "quantity": q, "unit_price_cents": price})
            lc.write(f"{oid},{sku},{q},{price}\n")
            lines += 1
        oj.write(json.dumps({"external_id": oid, "customer_external_id": cid, "placed_at": placed, "lines": order_lines}) + "\n")
        oc.write(f"{oid},{cid},{placed}\n")
print(lines)
