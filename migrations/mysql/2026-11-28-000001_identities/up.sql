-- Identities and everything hanging off them (the MySQL/MariaDB form of the same tables). Every
-- table is utf8mb4 with the binary collation: MySQL's default collations ignore case and
-- accents, and identifiers must compare exactly as on SQLite and PostgreSQL (Gatehouse folds
-- case in code where Kratos does). Ids are CHAR(36); indexed text is VARCHAR sized so each
-- index stays within InnoDB's 3072-byte key limit; documents are MEDIUMTEXT.
CREATE TABLE networks (
    id CHAR(36) PRIMARY KEY NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE identities (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    schema_id VARCHAR(255) NOT NULL,
    traits MEDIUMTEXT NOT NULL,
    state VARCHAR(32) NOT NULL,
    state_changed_at DATETIME(6) NULL,
    metadata_public MEDIUMTEXT NULL,
    metadata_admin MEDIUMTEXT NULL,
    external_id VARCHAR(512) NULL,
    organization_id CHAR(36) NULL,
    available_aal VARCHAR(16) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX identities_nid_external_id_uq ON identities (nid, external_id);
CREATE INDEX identities_nid_id_idx ON identities (nid, id);

CREATE TABLE identity_credentials (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    credential_type VARCHAR(64) NOT NULL,
    config MEDIUMTEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX identity_credentials_identity_type_uq ON identity_credentials (identity_id, credential_type);

CREATE TABLE identity_credential_identifiers (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    identity_credential_id CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    credential_type VARCHAR(64) NOT NULL,
    identifier VARCHAR(600) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_credential_id) REFERENCES identity_credentials(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX identity_credential_identifiers_uq ON identity_credential_identifiers (nid, credential_type, identifier);
CREATE INDEX identity_credential_identifiers_identifier_idx ON identity_credential_identifiers (nid, identifier);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);

CREATE TABLE identity_verifiable_addresses (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    via VARCHAR(16) NOT NULL,
    value VARCHAR(600) NOT NULL,
    verified BOOLEAN NOT NULL,
    verified_at DATETIME(6) NULL,
    status VARCHAR(16) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX identity_verifiable_addresses_uq ON identity_verifiable_addresses (nid, via, value);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

CREATE TABLE identity_recovery_addresses (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    identity_id CHAR(36) NOT NULL,
    via VARCHAR(16) NOT NULL,
    value VARCHAR(600) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (identity_id) REFERENCES identities(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX identity_recovery_addresses_uq ON identity_recovery_addresses (nid, via, value);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);
