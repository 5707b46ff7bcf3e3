-- Cross-node invalidation of cached sessions. Every committed change that can make a cached
-- whoami answer wrong (a session revoked, extended or deleted; an identity changed, disabled or
-- deleted; an address verified) notifies channel `gatehouse_session_changes` with the identity
-- id. Every node LISTENs and drops that identity's cached sessions. Notifications are sent at
-- commit, and identical ones in one transaction are folded into one by PostgreSQL. Inserts are
-- not watched: a new row cannot be in anyone's cache.
CREATE FUNCTION gatehouse_notify_session_change() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'identities' THEN
        PERFORM pg_notify('gatehouse_session_changes', OLD.id);
    ELSE
        PERFORM pg_notify('gatehouse_session_changes', OLD.identity_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_session_change();
CREATE TRIGGER identities_changed AFTER UPDATE OR DELETE ON identities
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_session_change();
CREATE TRIGGER identity_verifiable_addresses_changed AFTER UPDATE OR DELETE ON identity_verifiable_addresses
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_session_change();
CREATE TRIGGER identity_recovery_addresses_changed AFTER UPDATE OR DELETE ON identity_recovery_addresses
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_session_change();
