-- Tenants (issue 18): a tenant is a network, so its id is the `networks` row's and every
-- nid-scoped row of the tenant hangs off that network. `hosts` is a JSON array of extra host
-- names, `config` a JSON object overlaid on the process's kratos.yml. Every node polls
-- COUNT(*) and MAX(updated_at) to notice tenants created, changed or removed elsewhere.
CREATE TABLE tenants (
    id CHAR(36) PRIMARY KEY NOT NULL,
    name VARCHAR(255) NOT NULL,
    base_url TEXT NOT NULL,
    hosts MEDIUMTEXT NOT NULL,
    config MEDIUMTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (id) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX tenants_name_uq ON tenants (name);
