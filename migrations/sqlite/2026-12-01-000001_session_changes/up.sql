-- Cross-process invalidation of cached sessions (several processes may share one SQLite file).
-- Every change that can make a cached whoami answer wrong (a session revoked, extended or
-- deleted; an identity changed, disabled or deleted; an address verified) appends the identity
-- id here; every process polls for rows past the last `seq` it saw and drops that identity's
-- cached sessions. SQLite commits one writer at a time, so `seq` order is commit order. Rows are
-- pruned after a minute. Inserts are not watched: a new row cannot be in anyone's cache.
CREATE TABLE session_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TRIGGER sessions_updated AFTER UPDATE ON sessions
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id); END;
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id); END;
CREATE TRIGGER identities_updated AFTER UPDATE ON identities
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.id); END;
CREATE TRIGGER identities_deleted AFTER DELETE ON identities
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.id); END;
CREATE TRIGGER verifiable_addresses_updated AFTER UPDATE ON identity_verifiable_addresses
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id); END;
CREATE TRIGGER verifiable_addresses_deleted AFTER DELETE ON identity_verifiable_addresses
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id); END;
CREATE TRIGGER recovery_addresses_updated AFTER UPDATE ON identity_recovery_addresses
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id); END;
CREATE TRIGGER recovery_addresses_deleted AFTER DELETE ON identity_recovery_addresses
BEGIN INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id); END;
