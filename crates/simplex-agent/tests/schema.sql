CREATE TABLE conn_confirmations (
  confirmation_id BLOB PRIMARY KEY,
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  sender_key BLOB,
  e2e_snd_pub_key BLOB NOT NULL,
  smp_reply_queues BLOB NOT NULL,
  smp_client_version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE conn_invitations (
  invitation_id BLOB PRIMARY KEY,
  contact_conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  cr_invitation TEXT NOT NULL,
  recipient_conn_info BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE connections (
  conn_id BLOB PRIMARY KEY,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  initiator INTEGER NOT NULL,
  agent_version INTEGER NOT NULL,
  pq_support INTEGER NOT NULL,
  last_internal_id INTEGER NOT NULL,
  last_snd_id INTEGER NOT NULL,
  last_snd_hash BLOB NOT NULL,
  last_rcv_ext_id INTEGER NOT NULL,
  last_rcv_hash BLOB NOT NULL
, ratchet_sync_state TEXT NOT NULL DEFAULT 'ok', ratchet_state BLOB) WITHOUT ROWID;
CREATE TABLE inv_short_links (
  link_id BLOB NOT NULL PRIMARY KEY,
  link_key BLOB NOT NULL,
  snd_private_key BLOB NOT NULL,
  snd_id BLOB
) WITHOUT ROWID;
CREATE TABLE migrations (name TEXT PRIMARY KEY, ts INTEGER NOT NULL);
CREATE TABLE processed_ratchet_key_hashes (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  hash BLOB NOT NULL,
  PRIMARY KEY (conn_id, hash)
) WITHOUT ROWID;
CREATE TABLE ratchet_sync_keys (
  conn_id BLOB PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  x3dh_priv_key_1 BLOB NOT NULL,
  x3dh_priv_key_2 BLOB NOT NULL,
  pq_priv_kem BLOB
) WITHOUT ROWID;
CREATE TABLE ratchets (
  conn_id BLOB PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  x3dh_priv_key_1 BLOB,
  x3dh_priv_key_2 BLOB,
  pq_priv_kem BLOB) WITHOUT ROWID;
CREATE TABLE rcv_messages (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  internal_id INTEGER NOT NULL,
  external_snd_id INTEGER NOT NULL,
  internal_hash BLOB NOT NULL,
  encrypted_msg_hash BLOB NOT NULL,
  broker_id BLOB NOT NULL,
  msg_body BLOB NOT NULL,
  integrity TEXT NOT NULL,
  user_ack INTEGER NOT NULL, msg_type TEXT NOT NULL DEFAULT 'A_MSG', rcv_queue_id BLOB,
  PRIMARY KEY (conn_id, internal_id)
) WITHOUT ROWID;
CREATE TABLE "rcv_queues" (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  server TEXT NOT NULL,
  rcv_id BLOB NOT NULL,
  rcv_private_key BLOB NOT NULL,
  rcv_dh_secret BLOB NOT NULL,
  e2e_priv_key BLOB NOT NULL,
  e2e_dh_secret BLOB,
  snd_id BLOB NOT NULL,
  sender_can_secure INTEGER NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL,
  rcv_primary INTEGER NOT NULL,
  replace_rcv_queue_id BLOB,
  switch_status TEXT,
  created_at INTEGER NOT NULL, extra INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conn_id, rcv_id),
  UNIQUE (server, rcv_id)
) WITHOUT ROWID;
CREATE TABLE short_links (
  conn_id BLOB NOT NULL PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  link_id BLOB NOT NULL,
  link_key BLOB NOT NULL,
  root_private_key BLOB NOT NULL,
  short_link TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE skipped_messages (
  skipped_message_id INTEGER PRIMARY KEY,
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  header_key BLOB NOT NULL,
  msg_n INTEGER NOT NULL,
  msg_key BLOB NOT NULL,
  UNIQUE (conn_id, header_key, msg_n)
);
CREATE TABLE snd_message_copies (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  snd_queue_id BLOB NOT NULL,
  internal_id INTEGER NOT NULL,
  msg_type TEXT NOT NULL,
  msg_body BLOB NOT NULL,
  PRIMARY KEY (conn_id, snd_queue_id, internal_id)
) WITHOUT ROWID;
CREATE TABLE snd_messages (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  internal_id INTEGER NOT NULL,
  internal_snd_id INTEGER NOT NULL,
  msg_type TEXT NOT NULL,
  internal_hash BLOB NOT NULL,
  msg_body BLOB NOT NULL,
  pending INTEGER NOT NULL, rcpt_internal_id INTEGER, rcpt_status TEXT, snd_queue_id BLOB, msg_encrypt_key BLOB, padded_msg_len INTEGER, msg_agent_version INTEGER,
  PRIMARY KEY (conn_id, internal_id)
) WITHOUT ROWID;
CREATE TABLE "snd_queues" (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  server TEXT NOT NULL,
  snd_id BLOB NOT NULL,
  snd_private_key BLOB NOT NULL,
  e2e_pub_key BLOB NOT NULL,
  e2e_dh_secret BLOB NOT NULL,
  sender_can_secure INTEGER NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL,
  snd_primary INTEGER NOT NULL,
  replace_snd_queue_id BLOB,
  switch_status TEXT, extra INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conn_id, snd_id)
) WITHOUT ROWID;
CREATE INDEX idx_inv_short_links_snd_id ON inv_short_links (snd_id);
CREATE INDEX idx_rcv_messages_enc_hash ON rcv_messages (conn_id, encrypted_msg_hash);
CREATE INDEX idx_snd_messages_pending ON snd_messages (conn_id, pending, internal_id);
CREATE INDEX idx_snd_messages_rcpt ON snd_messages (conn_id, rcpt_internal_id)
  WHERE rcpt_internal_id IS NOT NULL;
CREATE INDEX idx_snd_messages_snd_id ON snd_messages (conn_id, internal_snd_id);
