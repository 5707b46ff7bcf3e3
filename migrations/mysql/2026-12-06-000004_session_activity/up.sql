-- When each session was last used, for `session.hygiene.inactivity_timeout`. Kept apart from
-- `sessions` so recording use (at most once a minute per session) neither fires the change feed
-- that empties the whoami caches nor rewrites the session row. Sessions from before this table
-- start out as last used at their last update.
CREATE TABLE session_activity (
    session_id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    seen_at DATETIME(6) NOT NULL,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO session_activity (session_id, nid, seen_at) SELECT id, nid, updated_at FROM sessions;
