-- Self-service flows of every kind share one table: the columns are the same, and one sweeper
-- pass clears all expired flows. `state` changes are compare-and-set updates.
CREATE TABLE selfservice_flows (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    flow_type VARCHAR(32) NOT NULL,
    state VARCHAR(64) NOT NULL,
    request_url TEXT NOT NULL,
    return_to TEXT NULL,
    ui MEDIUMTEXT NOT NULL,
    csrf_token VARCHAR(255) NOT NULL,
    refresh BOOLEAN NOT NULL DEFAULT FALSE,
    requested_aal VARCHAR(16) NOT NULL,
    active_method VARCHAR(64) NULL,
    identity_id CHAR(36) NULL,
    internal_context MEDIUMTEXT NULL,
    issued_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (nid, expires_at);

-- Errors shown to browsers on the error UI (`GET /self-service/errors?id=`).
CREATE TABLE selfservice_errors (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    error MEDIUMTEXT NOT NULL,
    csrf_token VARCHAR(255) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX selfservice_errors_created_idx ON selfservice_errors (nid, created_at);
