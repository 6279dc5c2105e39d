use ops_kit::audited;

#[audited(action = lead.upsert)]
async fn handler() {}

fn main() {}
