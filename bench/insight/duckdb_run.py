"""The peer: DuckDB (Python package) computing RFM quintile scores and "also bought" rules
(support, confidence, lift; at least 2 orders with both, confidence >= 0.05, lift >= 1) in
SQL over the same order lines. The file is loaded into a table first (not timed)."""
import json
import sys
import time

import duckdb

con = duckdb.connect()
con.execute("CREATE TABLE lines AS SELECT * FROM read_csv_auto(?)", [sys.argv[1]])
as_of = con.execute("SELECT MAX(day) FROM lines").fetchone()[0]

started = time.perf_counter()
con.execute(f"""
CREATE TABLE rfm AS
WITH c AS (
  SELECT customer, {as_of} - MAX(day) AS recency, COUNT(DISTINCT "order") AS frequency,
         SUM(amount) AS monetary
  FROM lines GROUP BY customer)
SELECT customer,
       NTILE(5) OVER (ORDER BY recency DESC) AS r,
       NTILE(5) OVER (ORDER BY frequency) AS f,
       NTILE(5) OVER (ORDER BY monetary) AS m
FROM c""")
rfm_seconds = time.perf_counter() - started

started = time.perf_counter()
con.execute("""
CREATE TABLE rules AS
WITH b AS (SELECT DISTINCT "order", sku FROM lines),
     total AS (SELECT COUNT(DISTINCT "order") AS n FROM b),
     single AS (SELECT sku, COUNT(*) AS c FROM b GROUP BY sku),
     pairs AS (SELECT x.sku AS a, y.sku AS b, COUNT(*) AS both_orders
               FROM b x JOIN b y ON x."order" = y."order" AND x.sku <> y.sku
               GROUP BY 1, 2 HAVING COUNT(*) >= 2)
SELECT p.a, p.b, p.both_orders,
       p.both_orders / total.n AS support,
       p.both_orders / sa.c AS confidence,
       (p.both_orders / sa.c) / (sb.c / total.n) AS lift
FROM pairs p JOIN single sa ON sa.sku = p.a JOIN single sb ON sb.sku = p.b, total
WHERE p.both_orders / sa.c >= 0.05 AND (p.both_orders / sa.c) / (sb.c / total.n) >= 1""")
recs_seconds = time.perf_counter() - started
print(json.dumps({
    "customers": con.execute("SELECT COUNT(*) FROM rfm").fetchone()[0],
    "rules": con.execute("SELECT COUNT(*) FROM rules").fetchone()[0],
    "rfm_seconds": rfm_seconds,
    "recs_seconds": recs_seconds,
}))
