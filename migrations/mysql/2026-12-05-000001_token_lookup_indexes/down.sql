ALTER TABLE selfservice_tokens DROP INDEX selfservice_tokens_flow_idx,
    ADD INDEX selfservice_tokens_flow_idx (flow_id);
CREATE UNIQUE INDEX selfservice_tokens_hash_idx ON selfservice_tokens (nid, kind, token_hash);
