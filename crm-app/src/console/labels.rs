//! The words staff read for the CRM's codes (`built_in` is "Built-in").

use crate::activities::model::ActivityKind;
use crate::leads::model::{LeadSource, LeadStatus, LostReason, ProjectType};

pub(super) fn status(s: LeadStatus) -> &'static str {
    match s {
        LeadStatus::New => "New",
        LeadStatus::Contacted => "Contacted",
        LeadStatus::Qualified => "Qualified",
        LeadStatus::Quoted => "Quoted",
        LeadStatus::Won => "Won",
        LeadStatus::Lost => "Lost",
    }
}

pub(super) fn lost_reason(r: LostReason) -> &'static str {
    match r {
        LostReason::Price => "Price",
        LostReason::Timing => "Timing",
        LostReason::Competitor => "Went with a competitor",
        LostReason::NoResponse => "No response",
        LostReason::Scope => "Not work we do",
        LostReason::Other => "Other",
    }
}

pub(super) fn source(s: LeadSource) -> &'static str {
    match s {
        LeadSource::WebForm => "Web form",
        LeadSource::Referral => "Referral",
        LeadSource::Showroom => "Showroom",
        LeadSource::Phone => "Phone",
        LeadSource::Email => "Email",
        LeadSource::RepeatCustomer => "Repeat customer",
        LeadSource::Other => "Other",
    }
}

pub(super) fn project_type(p: ProjectType) -> &'static str {
    match p {
        ProjectType::Kitchen => "Kitchen",
        ProjectType::Bath => "Bath",
        ProjectType::Closet => "Closet",
        ProjectType::BuiltIn => "Built-in",
        ProjectType::Furniture => "Furniture",
        ProjectType::Commercial => "Commercial",
        ProjectType::Other => "Other",
    }
}

pub(super) fn activity(k: ActivityKind) -> &'static str {
    match k {
        ActivityKind::Call => "Call",
        ActivityKind::Email => "Email",
        ActivityKind::Meeting => "Meeting",
        ActivityKind::Note => "Note",
        ActivityKind::Task => "Task",
        ActivityKind::SiteVisit => "Site visit",
    }
}

/// "qualified, quoted or lost".
pub(super) fn statuses_or(list: &[LeadStatus]) -> String {
    let words: Vec<String> = list.iter().map(|s| status(*s).to_lowercase()).collect();
    match words.as_slice() {
        [] => "nowhere".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The label of a lead field named as the API names it.
pub(super) fn lead_field(name: &str) -> &str {
    match name {
        "id" => "Id",
        "externalId" => "External id",
        "name" => "Name",
        "company" => "Company",
        "email" => "Email",
        "phone" => "Phone",
        "source" => "Source",
        "projectType" => "Project type",
        "estimatedValue" => "Estimated value",
        "currency" => "Currency",
        "siteAddress" => "Site address",
        "desiredInstallDate" => "Desired install date",
        "ownerUserId" => "Owner",
        "tags" => "Tags",
        "notes" => "Notes",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_are_listed_as_a_sentence() {
        use LeadStatus::*;
        assert_eq!(
            statuses_or(&[Contacted, Qualified, Lost]),
            "contacted, qualified or lost"
        );
        assert_eq!(statuses_or(&[Won]), "won");
    }
}
