-- "Bought this, also bought" rules (OF2), recomputed daily from the orders.
CREATE TABLE also_bought (
    sku TEXT NOT NULL,
    other_sku TEXT NOT NULL,
    pair_orders BIGINT NOT NULL,
    support REAL NOT NULL,
    confidence REAL NOT NULL,
    lift REAL NOT NULL,
    PRIMARY KEY (sku, other_sku)
);
