-- The courier and web hook pumps claim due rows of every network (tenant) in one statement, so
-- the claim's index cannot start with nid.
CREATE INDEX courier_messages_claim_idx ON courier_messages (status, next_attempt_at);
CREATE INDEX webhook_deliveries_claim_idx ON webhook_deliveries (status, next_attempt_at);
