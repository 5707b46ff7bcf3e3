CREATE UNIQUE INDEX selfservice_tokens_hash_idx ON selfservice_tokens (nid, kind, token_hash);
