-- The courier's durable queue. A message is a row from the moment a flow asks for it, so a crash
-- loses nothing; senders claim rows with a compare-and-set (status, lease, claim id), so several
-- nodes can share the queue without sending a message twice.
CREATE TABLE courier_messages (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    -- Kratos's wire names: 'email' or 'phone'.
    type VARCHAR(16) NOT NULL,
    -- queued | processing | sent | abandoned
    status VARCHAR(16) NOT NULL,
    -- 'email', 'sms' or a configured channel id.
    channel VARCHAR(255) NOT NULL,
    recipient VARCHAR(600) NOT NULL,
    subject TEXT NOT NULL,
    body MEDIUMTEXT NOT NULL,
    html_body MEDIUMTEXT NULL,
    template_type VARCHAR(64) NOT NULL,
    template_data MEDIUMTEXT NOT NULL,
    send_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    -- The lease of the node sending it; a 'processing' row whose lease passed is claimable again.
    claimed_until DATETIME(6) NULL,
    -- Which claim holds the row; outcomes are written only by the claim that still holds it.
    claim_id VARCHAR(64) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX courier_messages_due_idx ON courier_messages (nid, status, next_attempt_at);
CREATE INDEX courier_messages_recipient_idx ON courier_messages (nid, recipient);

-- One row per delivery attempt, shown as `dispatches` by the admin API.
CREATE TABLE courier_message_dispatches (
    id CHAR(36) PRIMARY KEY NOT NULL,
    nid CHAR(36) NOT NULL,
    message_id CHAR(36) NOT NULL,
    -- failed | success
    status VARCHAR(16) NOT NULL,
    error TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (nid) REFERENCES networks(id) ON DELETE CASCADE,
    FOREIGN KEY (message_id) REFERENCES courier_messages(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX courier_message_dispatches_message_idx ON courier_message_dispatches (message_id, created_at);
