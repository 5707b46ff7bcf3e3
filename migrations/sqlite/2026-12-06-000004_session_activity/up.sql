-- When each session was last used, for `session.hygiene.inactivity_timeout`. Kept apart from
-- `sessions` so recording use (at most once a minute per session) neither fires the change feed
-- that empties the whoami caches nor rewrites the session row. Sessions from before this table
-- start out as last used at their last update.
CREATE TABLE session_activity (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    seen_at TIMESTAMP NOT NULL
);
INSERT INTO session_activity (session_id, nid, seen_at) SELECT id, nid, updated_at FROM sessions;
