CREATE INDEX IF NOT EXISTS token_audit_log_owner_type_owner_id_previous_token_id_index
  ON token_audit_log (owner_type, owner_id, previous_token_id) WHERE previous_token_id IS NOT NULL;
