-- One-time codes are six digits, so two flows' codes can hash alike (with a thousand codes
-- outstanding, about one new code in a thousand did, and its flow failed). Tokens are only
-- ever looked up within their flow (`selfservice_tokens_flow_idx`), so the hash needs no index.
DROP INDEX selfservice_tokens_hash_idx;
