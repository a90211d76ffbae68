-- Daily relationship scores per customer (WB1, RT2): RFM quintiles and segment, and from the
-- BG/NBD and Gamma-Gamma models the probability the customer is still active, expected
-- purchases in the next 90 days and the value of the next 12 months.
CREATE TABLE customer_scores (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    rfm_r INTEGER NOT NULL,
    rfm_f INTEGER NOT NULL,
    rfm_m INTEGER NOT NULL,
    rfm_segment TEXT NOT NULL,
    p_alive DOUBLE PRECISION,
    expected_purchases_90d DOUBLE PRECISION,
    clv_12m_cents BIGINT,
    computed_at BIGINT NOT NULL
);
CREATE INDEX customer_scores_segment ON customer_scores (rfm_segment);
