use ops_kit::audited;

#[audited(action = "lead.upsert", resource_id = query("id"))]
async fn handler() {}

fn main() {}
