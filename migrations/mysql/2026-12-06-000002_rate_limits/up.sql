-- Gatehouse's rate limits per client address (security.rate_limits): one token bucket per
-- network and key ("flows:<address>", "codes:<address>"), kept as GCRA's theoretical arrival
-- time in microseconds since the epoch, so every node answers from the same state.
CREATE TABLE rate_limits (
    nid CHAR(36) NOT NULL,
    client_key VARCHAR(255) NOT NULL,
    tat BIGINT NOT NULL,
    PRIMARY KEY (nid, client_key),
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- The sweeper deletes buckets whose arrival time has passed (they are full again).
CREATE INDEX rate_limits_tat_idx ON rate_limits (nid, tat);
