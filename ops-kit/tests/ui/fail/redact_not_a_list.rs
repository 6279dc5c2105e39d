use ops_kit::audited;

#[audited(action = "lead.upsert", redact = "password")]
async fn handler() {}

fn main() {}
