-- One-time codes and link tokens of every self-service method. Only a keyed hash of the code is
-- stored, so a database leak does not hand out live codes.
CREATE TABLE selfservice_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    flow_id TEXT NULL REFERENCES selfservice_flows(id) ON DELETE CASCADE,
    identity_id TEXT NULL REFERENCES identities(id) ON DELETE CASCADE,
    address TEXT NULL,
    address_id TEXT NULL,
    token_hash TEXT NOT NULL,
    used_at TIMESTAMP NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX selfservice_tokens_hash_idx ON selfservice_tokens (nid, kind, token_hash);
CREATE INDEX selfservice_tokens_flow_idx ON selfservice_tokens (flow_id);
CREATE INDEX selfservice_tokens_expires_idx ON selfservice_tokens (nid, expires_at);

-- Wrong-code submissions per flow, counted atomically against `max_submissions`.
ALTER TABLE selfservice_flows ADD COLUMN submit_count INTEGER NOT NULL DEFAULT 0;
