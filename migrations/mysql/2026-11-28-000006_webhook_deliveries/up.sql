-- Fire-and-forget web hooks (`response.ignore: true`): each call is a row from the moment the
-- flow asks for it, retried with backoff by the webhooks pump until the receiver answers 2xx or
-- the attempts run out. Claimed with a compare-and-set (status, lease, claim id) like the
-- courier's queue, so several nodes never deliver one row twice and a crash loses nothing.
-- Auth values and configured headers are not stored: they are read from the configuration of
-- the hook named by `hook` when the row is delivered.
CREATE TABLE webhook_deliveries (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    -- The hook's configuration path, e.g. selfservice.flows.registration.after.password.hooks[0].
    hook TEXT NOT NULL,
    url TEXT NOT NULL,
    method VARCHAR(16) NOT NULL,
    -- The evaluated Jsonnet body (NULL: no body configured).
    body MEDIUMTEXT NULL,
    -- queued | processing | delivered | abandoned
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    claimed_until DATETIME(6) NULL,
    claim_id VARCHAR(64) NULL,
    -- Why the last attempt failed (status code or connection error; never the body).
    last_error TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (nid, status, next_attempt_at);
