-- A year of sent messages for bench/admin (and its smoke test): {M} messages over the
-- customers with ids 1 to {N}, the library's templates, mostly email, one in fifty a letter,
-- one in twenty blocked, each with its transition, planned at a moment of the year before now.
WITH t(i, template, programme, class) AS (VALUES
  (0, 'order_confirmation', 'after-purchase', 'transactional'),
  (1, 'delivered_notice', 'delivered', 'transactional'),
  (2, 'check_in', 'after-delivery', 'service'),
  (3, 'replacement', 'replacement', 'promotional'),
  (4, 'birthday', 'birthday', 'relationship'),
  (5, 'we_miss_you', 'win-back', 'promotional'))
INSERT INTO messages (customer_id, step_key, programme_id, template, class, channel, state,
                      reason, planned_at, sent_at, topic)
SELECT c.id, 'send', t.programme, t.template, t.class,
       CASE WHEN g % 50 = 0 THEN 'letter' ELSE 'email' END,
       CASE WHEN g % 20 = 0 THEN 'blocked' ELSE 'sent' END,
       CASE WHEN g % 20 = 0 THEN 'blocked: no marketing consent' ELSE 'accepted by the SMTP server' END,
       p.at, CASE WHEN g % 20 = 0 THEN NULL ELSE p.at + 2000000 END, t.template
FROM generate_series(1::bigint, {M}) g
JOIN LATERAL (SELECT (EXTRACT(EPOCH FROM now()) * 1000000)::bigint
                     - ((g * 7919) % (365 * 86400)) * 1000000 AS at) p ON true
JOIN customers c ON c.id = 1 + (g * 104729) % {N}
JOIN t ON t.i = g % 6;
INSERT INTO message_transitions (message_id, from_state, to_state, code, reason, at)
SELECT id, 'planned', state, NULL, reason, planned_at FROM messages;
