DROP TABLE session_devices;
DROP TABLE sessions;
