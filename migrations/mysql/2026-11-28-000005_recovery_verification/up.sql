-- One-time codes and link tokens of every self-service method. Only a keyed hash of the code is
-- stored, so a database leak does not hand out live codes.
CREATE TABLE selfservice_tokens (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    kind VARCHAR(64) NOT NULL,
    flow_id CHAR(36) NULL,
    identity_id CHAR(36) NULL,
    address VARCHAR(600) NULL,
    address_id CHAR(36) NULL,
    token_hash VARCHAR(128) NOT NULL,
    used_at DATETIME(6) NULL,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (flow_id) REFERENCES selfservice_flows(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX selfservice_tokens_hash_idx ON selfservice_tokens (nid, kind, token_hash);
CREATE INDEX selfservice_tokens_flow_idx ON selfservice_tokens (flow_id);
CREATE INDEX selfservice_tokens_expires_idx ON selfservice_tokens (nid, expires_at);

-- Wrong-code submissions per flow, counted atomically against `max_submissions`.
ALTER TABLE selfservice_flows ADD COLUMN submit_count INTEGER NOT NULL DEFAULT 0;
