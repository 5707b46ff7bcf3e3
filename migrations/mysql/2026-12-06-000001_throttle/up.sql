-- Failed sign-in attempts (`security.brute_force`), one row per counted key: a digest of the
-- identifier typed, an identity (second factors) or a client address. One atomic upsert per
-- failure, so every node sees the same counts. `locked_until` is when the key may try again
-- (the backoff wait or the lockout); a row untouched for `reset_after` counts as zero and is
-- swept with expired flows. (`key` is a reserved word on MySQL: raw SQL quotes it.)
CREATE TABLE throttle_counters (
    nid CHAR(36) NOT NULL,
    `key` VARCHAR(255) NOT NULL,
    failures INTEGER NOT NULL,
    first_failure_at DATETIME(6) NOT NULL,
    last_failure_at DATETIME(6) NOT NULL,
    locked_until DATETIME(6) NULL,
    PRIMARY KEY (nid, `key`),
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX throttle_counters_last_failure_idx ON throttle_counters (nid, last_failure_at);
