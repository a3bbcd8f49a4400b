-- Optional re-notification while an alert stays active: a rule with repeat_s set
-- fires again every repeat_s seconds until its condition clears (NULL: fire once).
ALTER TABLE alert_rules ADD COLUMN IF NOT EXISTS repeat_s double precision
    CHECK (repeat_s IS NULL OR repeat_s > 0);
