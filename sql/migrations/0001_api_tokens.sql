-- EMRBridge API tokens. Opaque 256-bit tokens are never stored: only their SHA-256.
-- A token belongs to a core user (user_id) or to a portal patient (pid); revocation is immediate for every replica.
CREATE TABLE IF NOT EXISTS mmt_api_tokens (
  token_hash BINARY(32) NOT NULL,
  kind ENUM('user','patient','guest') NOT NULL,
  user_id BIGINT NULL,
  pid BIGINT NULL,
  username VARCHAR(255) NOT NULL,
  role VARCHAR(16) NOT NULL,
  source VARCHAR(32) NOT NULL COMMENT 'password, portal-password, openemr-session, demo-guest',
  created_at DATETIME NOT NULL,
  expires_at DATETIME NOT NULL,
  last_used_at DATETIME NULL,
  revoked_at DATETIME NULL,
  client_ip VARCHAR(255) NULL,
  PRIMARY KEY (token_hash),
  KEY mmt_api_tokens_user (user_id),
  KEY mmt_api_tokens_pid (pid),
  KEY mmt_api_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
