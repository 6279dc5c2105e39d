-- Each user's token epoch: bumped in the same transaction as a role change
-- or a password change, and carried by every token issued to the user
-- (the `ver` claim), so that a token issued before the change is refused
-- at once (docs/tenancy.md, "Revoking tokens"). Existing users start at 0,
-- which tokens issued before this column existed also read as.
ALTER TABLE users ADD COLUMN token_epoch bigint NOT NULL DEFAULT 0 CHECK (token_epoch >= 0);
