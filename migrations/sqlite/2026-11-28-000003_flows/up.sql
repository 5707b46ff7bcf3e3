-- Self-service flows of every kind share one table: the columns are the same, and one sweeper
-- pass clears all expired flows. `state` changes are compare-and-set updates.
CREATE TABLE selfservice_flows (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    flow_type TEXT NOT NULL,
    state TEXT NOT NULL,
    request_url TEXT NOT NULL,
    return_to TEXT NULL,
    ui TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    refresh BOOLEAN NOT NULL DEFAULT FALSE,
    requested_aal TEXT NOT NULL,
    active_method TEXT NULL,
    identity_id TEXT NULL,
    internal_context TEXT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (nid, expires_at);

-- Errors shown to browsers on the error UI (`GET /self-service/errors?id=`).
CREATE TABLE selfservice_errors (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    error TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX selfservice_errors_created_idx ON selfservice_errors (nid, created_at);
