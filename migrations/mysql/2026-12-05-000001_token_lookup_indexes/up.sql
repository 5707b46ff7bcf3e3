-- One-time codes are six digits, so two flows' codes can hash alike; tokens are only ever
-- looked up within their flow, so the hash needs no index of its own. Every token statement
-- filters `nid = ? AND flow_id = ? AND kind = ?`: three equality columns settle the planner's
-- choice; the leading flow_id still serves the cascade (re-added in the same ALTER, which
-- InnoDB requires for an index a foreign key uses).
ALTER TABLE selfservice_tokens DROP INDEX selfservice_tokens_hash_idx;
ALTER TABLE selfservice_tokens DROP INDEX selfservice_tokens_flow_idx,
    ADD INDEX selfservice_tokens_flow_idx (flow_id, kind, nid);
