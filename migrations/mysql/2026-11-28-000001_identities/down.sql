DROP TABLE identity_recovery_addresses;
DROP TABLE identity_verifiable_addresses;
DROP TABLE identity_credential_identifiers;
DROP TABLE identity_credentials;
DROP TABLE identities;
DROP TABLE networks;
