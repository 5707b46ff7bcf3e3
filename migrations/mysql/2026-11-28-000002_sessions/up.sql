-- Sessions and the devices they were used from. Tokens are stored as SHA-256 hex digests, never
-- in clear: a database leak must not hand out live sessions.
CREATE TABLE sessions (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    token VARCHAR(128) NOT NULL,
    logout_token VARCHAR(128) NOT NULL,
    active BOOLEAN NOT NULL,
    aal VARCHAR(16) NOT NULL,
    authentication_methods MEDIUMTEXT NOT NULL,
    issued_at DATETIME(6) NOT NULL,
    authenticated_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX sessions_token_uq ON sessions (token);
CREATE UNIQUE INDEX sessions_logout_token_uq ON sessions (logout_token);
CREATE INDEX sessions_nid_identity_idx ON sessions (nid, identity_id);
CREATE INDEX sessions_nid_expires_idx ON sessions (nid, expires_at);

CREATE TABLE session_devices (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    session_id CHAR(36) NOT NULL,
    ip_address TEXT NULL,
    user_agent TEXT NULL,
    location TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX session_devices_session_idx ON session_devices (session_id);
