-- Admin API keys (`gatehouse admin-keys`). The key itself is never stored: only its SHA-256
-- digest (hex), which is enough for a random key of 238 bits; the id is part of the key, so a
-- request finds its row by primary key and compares digests.
CREATE TABLE admin_api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_digest TEXT NOT NULL,
    -- A read-only key may only GET (and HEAD).
    read_only BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Written at most once a minute per key.
    last_used_at TIMESTAMP NULL,
    -- Set once; a revoked key is refused from the next request on, on every node.
    revoked_at TIMESTAMP NULL
);
CREATE INDEX admin_api_keys_nid_idx ON admin_api_keys (nid, created_at);
