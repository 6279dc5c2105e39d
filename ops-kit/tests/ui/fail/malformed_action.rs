use ops_kit::audited;

#[audited(action = "LeadUpsert")]
async fn handler() {}

fn main() {}
