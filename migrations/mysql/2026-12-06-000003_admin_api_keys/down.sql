DROP TABLE admin_api_keys;
