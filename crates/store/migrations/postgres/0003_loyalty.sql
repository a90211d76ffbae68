-- Loyalty, coupons and referrals (LY1, LY2, OF3, RF1, DQ1).

-- Append-only points ledger: balances, tiers and expiring points are derived from it.
-- entry_key makes every entry idempotent per customer (order:1042, action:<event id>, …).
CREATE TABLE loyalty_entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    kind TEXT NOT NULL,
    points BIGINT NOT NULL,
    at BIGINT NOT NULL,
    expires_at BIGINT,
    lot_id BIGINT,
    order_external_id TEXT,
    reason TEXT NOT NULL,
    entry_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (customer_id, entry_key)
);
CREATE INDEX loyalty_entries_customer ON loyalty_entries (customer_id, id);
CREATE INDEX loyalty_entries_expiry ON loyalty_entries (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX loyalty_entries_order ON loyalty_entries (order_external_id) WHERE order_external_id IS NOT NULL;

CREATE TABLE coupon_pools (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- code is normalised (upper case, no dashes); display_code is what the customer reads.
CREATE TABLE coupons (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    display_code TEXT NOT NULL,
    pool_id TEXT NOT NULL REFERENCES coupon_pools (id),
    customer_id BIGINT REFERENCES customers (id),
    value_kind TEXT NOT NULL,
    value BIGINT NOT NULL,
    min_order_cents BIGINT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX coupons_customer ON coupons (customer_id);

CREATE TABLE coupon_redemptions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coupon_id BIGINT NOT NULL REFERENCES coupons (id),
    customer_id BIGINT REFERENCES customers (id),
    order_external_id TEXT NOT NULL,
    order_total_cents BIGINT NOT NULL,
    discount_cents BIGINT NOT NULL,
    redeemed_at BIGINT NOT NULL,
    UNIQUE (coupon_id, order_external_id)
);

CREATE TABLE referral_codes (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    code TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- One referral per new customer: pending → ordered → rewarded, or void with a reason.
CREATE TABLE referrals (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referrer_id BIGINT NOT NULL REFERENCES customers (id),
    referred_id BIGINT NOT NULL UNIQUE REFERENCES customers (id),
    state TEXT NOT NULL,
    order_external_id TEXT,
    qualifies_at BIGINT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX referrals_referrer ON referrals (referrer_id, state);

-- Progress markers of periodic jobs (e.g. up to when points expiry has been written).
CREATE TABLE job_cursors (
    name TEXT PRIMARY KEY,
    until_at BIGINT NOT NULL
);
