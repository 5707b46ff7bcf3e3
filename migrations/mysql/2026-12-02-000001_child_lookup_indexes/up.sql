-- Children of an identity are loaded with `identity_id IN (...) AND nid = ?`: two equality
-- columns settle the planner's choice; the leading identity_id still serves the cascading
-- deletes. Dropped and re-added in one ALTER: InnoDB refuses to drop the index a foreign key
-- uses unless its replacement exists in the same statement.
ALTER TABLE identity_credential_identifiers DROP INDEX identity_credential_identifiers_identity_idx,
    ADD INDEX identity_credential_identifiers_identity_idx (identity_id, nid);
ALTER TABLE identity_verifiable_addresses DROP INDEX identity_verifiable_addresses_identity_idx,
    ADD INDEX identity_verifiable_addresses_identity_idx (identity_id, nid);
ALTER TABLE identity_recovery_addresses DROP INDEX identity_recovery_addresses_identity_idx,
    ADD INDEX identity_recovery_addresses_identity_idx (identity_id, nid);
