-- One-time codes are six digits, so two flows' codes can hash alike (with a thousand codes
-- outstanding, about one new code in a thousand did, and its flow failed). Tokens are only
-- ever looked up within their flow, so the hash needs no index of its own.
DROP INDEX selfservice_tokens_hash_idx;
-- Every token statement filters `nid = ? AND flow_id = ? AND kind = ?`. With an index on
-- flow_id alone, SQLite's planner (no statistics) preferred (nid, expires_at) and walked every
-- token of the network: issuing a code took 3 ms at 6,000 tokens and grew with the table.
-- Three equality columns settle the choice; the leading flow_id still serves the cascade.
DROP INDEX selfservice_tokens_flow_idx;
CREATE INDEX selfservice_tokens_flow_idx ON selfservice_tokens (flow_id, kind, nid);
