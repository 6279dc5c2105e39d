-- Each user's token epoch (see the PostgreSQL migration).
ALTER TABLE users ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0 CHECK (token_epoch >= 0);
