-- "Bought this, also bought" rules (OF2), recomputed daily from the orders.
CREATE TABLE also_bought (
    sku TEXT NOT NULL,
    other_sku TEXT NOT NULL,
    pair_orders BIGINT NOT NULL,
    support DOUBLE PRECISION NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    lift DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sku, other_sku)
);
