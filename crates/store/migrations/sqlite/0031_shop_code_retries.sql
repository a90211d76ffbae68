-- A code the shop fails on while it takes others (a plugin crashing on one coupon, say) no
-- longer holds the codes behind it (issue 24): it waits on its own, `shop_retry_at` (µs)
-- further off each time, with the shop's last answer in `shop_note` and the moment of that
-- try in `shop_tried_at` (µs), and is refused after eight such tries. `shop_tries` counts
-- only tries the shop failed on while it answered about other codes (in the same run, or
-- since this code's last try), so a shop that is down refuses nothing.
ALTER TABLE coupons ADD COLUMN shop_tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE coupons ADD COLUMN shop_tried_at BIGINT;
ALTER TABLE coupons ADD COLUMN shop_retry_at BIGINT;
