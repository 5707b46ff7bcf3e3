-- Failed sign-in attempts (`security.brute_force`), one row per counted key: a digest of the
-- identifier typed, an identity (second factors) or a client address. One atomic upsert per
-- failure, so every node sees the same counts. `locked_until` is when the key may try again
-- (the backoff wait or the lockout); a row untouched for `reset_after` counts as zero and is
-- swept with expired flows.
CREATE TABLE throttle_counters (
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    first_failure_at TIMESTAMP NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP NULL,
    PRIMARY KEY (nid, key)
);
CREATE INDEX throttle_counters_last_failure_idx ON throttle_counters (nid, last_failure_at);
