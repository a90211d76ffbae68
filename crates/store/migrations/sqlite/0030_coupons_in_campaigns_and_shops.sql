-- A campaign can hand every recipient a personal code from a coupon pool (issue 21): the
-- code is issued when the message goes (nobody held back or blocked uses one up) and is
-- tied to the message, so a delivery resumed after a crash shows the same code.
ALTER TABLE campaigns ADD COLUMN coupon_pool TEXT;
ALTER TABLE coupons ADD COLUMN message_id BIGINT;
CREATE UNIQUE INDEX coupons_message ON coupons (message_id) WHERE message_id IS NOT NULL;

-- Codes created in the shop too (issue 24, `[connectors.shop_codes]`): each coupon's state
-- there — NULL while not yet created, `created`, `refused` with the shop's reason in
-- `shop_note`, or set aside as `imported`, `used_up`, `expired` or `not_sent`. The
-- `shop_codes` job walks the NULL ones.
ALTER TABLE coupons ADD COLUMN shop_state TEXT;
ALTER TABLE coupons ADD COLUMN shop_note TEXT;
CREATE INDEX coupons_for_shop ON coupons (id) WHERE shop_state IS NULL;
CREATE UNIQUE INDEX jobs_one_shop_codes ON jobs (kind) WHERE kind = 'shop_codes';
