//! The lead status pipeline: which moves are allowed, and who may make
//! them.
//!
//! ```text
//! new ──► contacted ◄──► qualified ──► quoted ──► won
//!  │  ╲______________________↗  │        │  ◄──┘ (admin reopen)
//!  └──────────► lost ◄──────────┴────────┘
//!     (reopen: lost → new | contacted)
//! ```

/// Every status, in pipeline order.
pub const STATUSES: &[&str] = &["new", "contacted", "qualified", "quoted", "won", "lost"];

/// Why a lead was lost (required when moving to `lost`).
pub const LOST_REASONS: &[&str] = &[
    "price",
    "timing",
    "competitor",
    "no_response",
    "scope",
    "other",
];

/// The statuses `from` may move to.
///
/// ```
/// use crm_app::leads::pipeline::allowed;
/// assert_eq!(allowed("new"), ["contacted", "qualified", "lost"]);
/// assert!(allowed("won").contains(&"qualified"));
/// ```
pub fn allowed(from: &str) -> &'static [&'static str] {
    match from {
        "new" => &["contacted", "qualified", "lost"],
        "contacted" => &["qualified", "lost"],
        "qualified" => &["contacted", "quoted", "lost"],
        "quoted" => &["qualified", "won", "lost"],
        "won" => &["qualified"],
        "lost" => &["new", "contacted"],
        _ => &[],
    }
}

/// Whether the move needs an admin: reopening a won job.
pub fn admin_only(from: &str, to: &str) -> bool {
    from == "won" && to == "qualified"
}

/// Whether the move reopens a lost lead (its reason is cleared).
pub fn reopens(from: &str) -> bool {
    from == "lost"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_a_status_and_no_status_moves_to_itself() {
        for from in STATUSES {
            for to in allowed(from) {
                assert!(STATUSES.contains(to), "{from} -> {to}");
                assert_ne!(from, to);
            }
        }
    }

    #[test]
    fn only_reopening_a_won_lead_is_for_admins() {
        let admin_moves: Vec<_> = STATUSES
            .iter()
            .flat_map(|f| allowed(f).iter().map(move |t| (*f, *t)))
            .filter(|(f, t)| admin_only(f, t))
            .collect();
        assert_eq!(admin_moves, [("won", "qualified")]);
    }
}
