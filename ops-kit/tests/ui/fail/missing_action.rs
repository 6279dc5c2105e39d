use ops_kit::audited;

#[audited(resource = "lead")]
async fn handler() {}

fn main() {}
