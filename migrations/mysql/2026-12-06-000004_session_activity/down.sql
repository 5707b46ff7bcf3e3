DROP TABLE session_activity;
