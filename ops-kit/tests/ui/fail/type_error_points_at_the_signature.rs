// A mistake in the handler itself is reported at the user's code, not
// inside generated code.
use ops_kit::{ApiError, audited};

#[audited(action = "lead.upsert")]
async fn handler() -> Result<String, ApiError> {
    Ok(42)
}

fn main() {}
