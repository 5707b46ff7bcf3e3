DROP INDEX selfservice_tokens_flow_idx;
CREATE INDEX selfservice_tokens_flow_idx ON selfservice_tokens (flow_id);
CREATE UNIQUE INDEX selfservice_tokens_hash_idx ON selfservice_tokens (nid, kind, token_hash);
