-- Tenants (issue 18): a tenant is a network, so its id is the `networks` row's and every
-- nid-scoped row of the tenant hangs off that network. `hosts` is a JSON array of extra host
-- names, `config` a JSON object overlaid on the process's kratos.yml. Every node polls
-- COUNT(*) and MAX(updated_at) to notice tenants created, changed or removed elsewhere.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    base_url TEXT NOT NULL,
    hosts TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX tenants_name_uq ON tenants (name);
