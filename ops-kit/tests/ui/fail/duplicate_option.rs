use ops_kit::audited;

#[audited(action = "lead.upsert", resource = "lead", action = "lead.delete")]
async fn handler() {}

fn main() {}
