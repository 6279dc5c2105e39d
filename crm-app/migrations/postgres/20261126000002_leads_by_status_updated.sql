-- Lists filtered by status and sorted by last change (the default sort by
-- creation already has leads_by_status): each status is read in this
-- index's order, however many leads of other statuses changed since.
CREATE INDEX leads_by_status_updated ON leads (tenant_id, status, updated_at, id);
