use ops_kit::audited;

#[audited(action = "lead.upsert")]
fn handler() {}

fn main() {}
