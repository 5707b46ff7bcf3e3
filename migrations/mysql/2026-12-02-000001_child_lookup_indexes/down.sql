ALTER TABLE identity_credential_identifiers DROP INDEX identity_credential_identifiers_identity_idx,
    ADD INDEX identity_credential_identifiers_identity_idx (identity_id);
ALTER TABLE identity_verifiable_addresses DROP INDEX identity_verifiable_addresses_identity_idx,
    ADD INDEX identity_verifiable_addresses_identity_idx (identity_id);
ALTER TABLE identity_recovery_addresses DROP INDEX identity_recovery_addresses_identity_idx,
    ADD INDEX identity_recovery_addresses_identity_idx (identity_id);
