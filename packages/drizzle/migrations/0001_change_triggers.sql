CREATE OR REPLACE FUNCTION personal_access_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('personal_access_tokens', CASE WHEN TG_OP = 'TRUNCATE' THEN '*' ELSE OLD.id::text END);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER personal_access_tokens_notify_update
  AFTER UPDATE ON personal_access_tokens FOR EACH ROW
  WHEN (to_jsonb(OLD) - 'last_used_at' - 'updated_at' IS DISTINCT FROM to_jsonb(NEW) - 'last_used_at' - 'updated_at')
  EXECUTE FUNCTION personal_access_tokens_notify();
--> statement-breakpoint
CREATE OR REPLACE TRIGGER personal_access_tokens_notify_delete
  AFTER DELETE ON personal_access_tokens FOR EACH ROW
  EXECUTE FUNCTION personal_access_tokens_notify();
--> statement-breakpoint
CREATE OR REPLACE TRIGGER personal_access_tokens_notify_truncate
  AFTER TRUNCATE ON personal_access_tokens FOR EACH STATEMENT
  EXECUTE FUNCTION personal_access_tokens_notify();
