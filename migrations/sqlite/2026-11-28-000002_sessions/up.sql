-- Sessions and the devices they were used from. Tokens are stored as SHA-256 hex digests, never
-- in clear: a database leak must not hand out live sessions.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    token TEXT NOT NULL,
    logout_token TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    aal TEXT NOT NULL,
    authentication_methods TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    authenticated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX sessions_token_uq ON sessions (token);
CREATE UNIQUE INDEX sessions_logout_token_uq ON sessions (logout_token);
CREATE INDEX sessions_nid_identity_idx ON sessions (nid, identity_id);
CREATE INDEX sessions_nid_expires_idx ON sessions (nid, expires_at);

CREATE TABLE session_devices (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    ip_address TEXT NULL,
    user_agent TEXT NULL,
    location TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX session_devices_session_idx ON session_devices (session_id);
