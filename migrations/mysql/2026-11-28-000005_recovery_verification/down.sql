DROP TABLE selfservice_tokens;
ALTER TABLE selfservice_flows DROP COLUMN submit_count;
