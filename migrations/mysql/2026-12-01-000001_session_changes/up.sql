-- Cross-node invalidation of cached sessions without LISTEN/NOTIFY: as on SQLite, every change
-- that can make a cached whoami answer wrong (a session revoked, extended or deleted; an
-- identity changed, disabled or deleted; an address verified) appends the identity id here, and
-- every node polls for rows it has not seen and drops that identity's cached sessions. Unlike
-- SQLite, concurrent transactions commit out of `seq` order, so the poller re-reads above
-- gaps for a while (see src/store/changes.rs). Rows are pruned after a minute. Inserts are not
-- watched: a new row cannot be in anyone's cache. (Rows removed by a cascade fire no trigger on
-- MySQL; each cascade starts at an identity or session delete, which does.)
CREATE TABLE session_changes (
    seq BIGINT AUTO_INCREMENT PRIMARY KEY NOT NULL,
    identity_id CHAR(36) NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX session_changes_created_idx ON session_changes (created_at);

CREATE TRIGGER sessions_updated AFTER UPDATE ON sessions
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id);
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id);
CREATE TRIGGER identities_updated AFTER UPDATE ON identities
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.id);
CREATE TRIGGER identities_deleted AFTER DELETE ON identities
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.id);
CREATE TRIGGER verifiable_addresses_updated AFTER UPDATE ON identity_verifiable_addresses
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id);
CREATE TRIGGER verifiable_addresses_deleted AFTER DELETE ON identity_verifiable_addresses
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id);
CREATE TRIGGER recovery_addresses_updated AFTER UPDATE ON identity_recovery_addresses
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id);
CREATE TRIGGER recovery_addresses_deleted AFTER DELETE ON identity_recovery_addresses
FOR EACH ROW INSERT INTO session_changes (identity_id) VALUES (OLD.identity_id);
