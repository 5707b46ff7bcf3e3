-- Children of an identity are loaded with `identity_id IN (...) AND nid = ?`. With an index on
-- identity_id alone, SQLite's planner (which has no statistics) preferred the unique
-- (nid, via, value) and (nid, identifier) indexes and walked every row of the network: a page of
-- 250 identities read all addresses and identifiers. Two equality columns settle the choice; the
-- leading identity_id still serves the cascading deletes.
DROP INDEX identity_credential_identifiers_identity_idx;
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id, nid);
DROP INDEX identity_verifiable_addresses_identity_idx;
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id, nid);
DROP INDEX identity_recovery_addresses_identity_idx;
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id, nid);
