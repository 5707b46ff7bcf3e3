-- Admin API keys (`gatehouse admin-keys`). The key itself is never stored: only its SHA-256
-- digest (hex), which is enough for a random key of 238 bits; the id is part of the key, so a
-- request finds its row by primary key and compares digests.
CREATE TABLE admin_api_keys (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    key_digest VARCHAR(128) NOT NULL,
    -- A read-only key may only GET (and HEAD).
    read_only BOOLEAN NOT NULL,
    created_at DATETIME(6) NOT NULL,
    -- Written at most once a minute per key.
    last_used_at DATETIME(6) NULL,
    -- Set once; a revoked key is refused from the next request on, on every node.
    revoked_at DATETIME(6) NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX admin_api_keys_nid_idx ON admin_api_keys (nid, created_at);
