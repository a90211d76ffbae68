-- A campaign can hand every recipient a personal code from a coupon pool (issue 21): the
-- code is issued when the message goes (nobody held back or blocked uses one up) and is
-- tied to the message, so a delivery resumed after a crash shows the same code.
ALTER TABLE campaigns ADD COLUMN coupon_pool TEXT;
ALTER TABLE coupons ADD COLUMN message_id BIGINT;
CREATE UNIQUE INDEX coupons_message ON coupons (message_id) WHERE message_id IS NOT NULL;
