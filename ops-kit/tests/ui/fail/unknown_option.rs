use ops_kit::audited;

#[audited(action = "lead.upsert", actor = "admin")]
async fn handler() {}

fn main() {}
