CREATE TABLE IF NOT EXISTS token_rate_limits (
  key text PRIMARY KEY,
  points integer NOT NULL,
  expire timestamp(3) with time zone
);
