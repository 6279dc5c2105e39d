//! The lead status pipeline: which moves are allowed, and who may make
//! them.
//!
//! ```text
//! new ──► contacted ◄──► qualified ──► quoted ──► won
//!  │  ╲______________________↗  │        │  ◄──┘ (admin reopen)
//!  └──────────► lost ◄──────────┴────────┘
//!     (reopen: lost → new | contacted)
//! ```

pub use super::model::{LeadStatus, LostReason};
use LeadStatus::{Contacted, Lost, New, Qualified, Quoted, Won};

/// Every status's name, in pipeline order.
pub const STATUSES: &[&str] = LeadStatus::NAMES;

/// The names of the reasons a lead is lost.
pub const LOST_REASONS: &[&str] = LostReason::NAMES;

impl LeadStatus {
    /// The statuses a user may move a lead in this status to.
    ///
    /// ```
    /// use crm_app::leads::model::LeadStatus::*;
    /// assert_eq!(New.allowed(), [Contacted, Qualified, Lost]);
    /// assert!(Won.allowed().contains(&Qualified));
    /// ```
    pub const fn allowed(self) -> &'static [LeadStatus] {
        match self {
            New => &[Contacted, Qualified, Lost],
            Contacted => &[Qualified, Lost],
            Qualified => &[Contacted, Quoted, Lost],
            Quoted => &[Qualified, Won, Lost],
            Won => &[Qualified],
            Lost => &[New, Contacted],
        }
    }

    /// Whether the move to `to` needs an admin: reopening a won job.
    pub fn admin_only(self, to: LeadStatus) -> bool {
        self == Won && to == Qualified
    }

    /// Whether a move from this status reopens a lost lead (its reason is
    /// cleared).
    pub fn reopens(self) -> bool {
        self == Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_status_moves_to_itself() {
        for from in LeadStatus::ALL {
            assert!(!from.allowed().contains(from), "{from}");
        }
    }

    #[test]
    fn only_reopening_a_won_lead_is_for_admins() {
        let admin_moves: Vec<_> = LeadStatus::ALL
            .iter()
            .flat_map(|f| f.allowed().iter().map(move |t| (*f, *t)))
            .filter(|(f, t)| f.admin_only(*t))
            .collect();
        assert_eq!(admin_moves, [(Won, Qualified)]);
    }
}
