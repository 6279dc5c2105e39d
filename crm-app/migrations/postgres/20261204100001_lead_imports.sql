-- Lead imports from CSV files. The preview stores the rows it found
-- importable (each as the lead fields of an API upsert) with the rows it
-- refused and why; a background task then writes the rows in batches,
-- each batch committing its leads, their audit entries and the import's
-- counts together, so an import stopped halfway (a restart, say) resumes
-- where it stopped. `heartbeat_at` is the last batch's time: an import
-- still running without a recent heartbeat is taken over.

CREATE TABLE lead_imports (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    id           uuid        NOT NULL,
    created_by   uuid        NOT NULL,
    file_name    text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('previewed', 'running', 'done')),
    rows         jsonb       NOT NULL,
    refused      jsonb       NOT NULL DEFAULT '[]',
    ignored      jsonb       NOT NULL DEFAULT '[]',
    total        integer     NOT NULL,
    processed    integer     NOT NULL DEFAULT 0,
    created      integer     NOT NULL DEFAULT 0,
    updated      integer     NOT NULL DEFAULT 0,
    unchanged    integer     NOT NULL DEFAULT 0,
    failed       jsonb       NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL,
    heartbeat_at timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);

ALTER TABLE lead_imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_imports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_imports USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
