-- The courier's durable queue. A message is a row from the moment a flow asks for it, so a crash
-- loses nothing; senders claim rows with a compare-and-set (status, lease, claim id), so several
-- nodes can share the queue without sending a message twice.
CREATE TABLE courier_messages (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    -- Kratos's wire names: 'email' or 'phone'.
    type TEXT NOT NULL,
    -- queued | processing | sent | abandoned
    status TEXT NOT NULL,
    -- 'email', 'sms' or a configured channel id.
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    html_body TEXT NULL,
    template_type TEXT NOT NULL,
    template_data TEXT NOT NULL,
    send_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- The lease of the node sending it; a 'processing' row whose lease passed is claimable again.
    claimed_until TIMESTAMP NULL,
    -- Which claim holds the row; outcomes are written only by the claim that still holds it.
    claim_id TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX courier_messages_due_idx ON courier_messages (nid, status, next_attempt_at);
CREATE INDEX courier_messages_recipient_idx ON courier_messages (nid, recipient);

-- One row per delivery attempt, shown as `dispatches` by the admin API.
CREATE TABLE courier_message_dispatches (
    id TEXT PRIMARY KEY NOT NULL,
    nid TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES courier_messages(id) ON DELETE CASCADE,
    -- failed | success
    status TEXT NOT NULL,
    error TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX courier_message_dispatches_message_idx ON courier_message_dispatches (message_id, created_at);
