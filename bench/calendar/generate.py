"""Writes a shop's history for bench/calendar/run.sh as Aftercare's JSON Lines: N customers in
time zone ZONE with a birth date (spread over the year, so about N/365 have their birthday on
any day) and marketing consent by email, 1 to 6 orders each over the two years before TODAY
(so scoring has histories to fit and inactivity and anniversaries fall on every day), order
lines from 500 products of which a fifth have a lifespan (replacement reminders).
Usage: generate.py N OUT_DIR ZONE TODAY"""
import datetime
import json
import random
import sys

n, out, zone, today = int(sys.argv[1]), sys.argv[2], sys.argv[3], datetime.date.fromisoformat(sys.argv[4])
rng = random.Random(11)
first = ["Anna", "Pieter", "Sanne", "Jan", "Fleur", "Daan", "Emma", "Lucas", "Julia", "Sem"]
last = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Peeters", "Maes", "Janssens"]
locales = ["nl-NL", "nl-BE", "en"]

with open(f"{out}/products.jsonl", "w") as pj:
    for p in range(500):
        product = {"sku": f"SKU-{p:04d}", "name": f"Product {p}", "category": "general",
                   "price_cents": 500 + (p * 37) % 15000}
        if p % 5 == 0:
            product["lifespan_days"] = 60 + (p * 7) % 300
        pj.write(json.dumps(product) + "\n")

with open(f"{out}/customers.jsonl", "w") as cj, open(f"{out}/orders.jsonl", "w") as oj:
    for c in range(n):
        cid = f"C{c:08d}"
        born = datetime.date(1950 + rng.randrange(55), 1, 1) + datetime.timedelta(days=rng.randrange(365))
        days = sorted(rng.sample(range(1, 730), 1 + rng.randrange(6)), reverse=True)
        since = today - datetime.timedelta(days=days[0])
        at = f"{since.isoformat()}T09:00:00Z"
        cj.write(json.dumps({
            "external_id": cid, "email": f"c{c}@example.nl", "first_name": rng.choice(first),
            "last_name": rng.choice(last), "locale": rng.choice(locales), "time_zone": zone,
            "birth_date": born.isoformat(), "customer_since": since.isoformat(),
            "consents": [{"purpose": "marketing", "channel": "email", "granted": True,
                          "source": "checkout", "at": at}],
        }) + "\n")
        for k, ago in enumerate(days):
            placed = today - datetime.timedelta(days=ago)
            lines = [{"sku": f"SKU-{rng.randrange(500):04d}", "quantity": 1 + rng.randrange(2),
                      "unit_price_cents": 500 + rng.randrange(10000)} for _ in range(1 + rng.randrange(3))]
            oj.write(json.dumps({"external_id": f"W{c:08d}-{k}", "customer_external_id": cid,
                                 "placed_at": f"{placed.isoformat()}T10:00:00Z", "lines": lines}) + "\n")
