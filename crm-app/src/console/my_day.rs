//! My day: the signed-in person's open tasks and follow-ups (activities
//! assigned to them, not completed, with a due time) across the shop's
//! leads, in three groups: overdue, due later today and coming up in the
//! next week. "Today" is the UTC day, as every time in the console is UTC.
//! Each one is completed in place (the lead page's complete form, back
//! here).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};

use super::activities::complete_form;
use super::labels;
use super::page::{self, Chrome, Flash, Nav};
use super::staff::Staff;
use crate::activities::domain as activities;
use crate::activities::model::Due;
use crate::state::AppState;

/// The most activities the page lists (the soonest due).
const SHOWN: i64 = 200;

/// How many days after today "Coming up" reaches.
const COMING_UP_DAYS: i64 = 7;

/// The page's three groups, each soonest first.
#[derive(Debug, Default)]
struct Groups {
    overdue: Vec<Due>,
    today: Vec<Due>,
    coming_up: Vec<Due>,
}

impl Groups {
    /// Sorts `due` (soonest first) into the groups: before `now`, before
    /// `tomorrow` (the next UTC midnight), the rest.
    fn of(due: Vec<Due>, now: DateTime<Utc>, tomorrow: DateTime<Utc>) -> Self {
        let mut groups = Self::default();
        for item in due {
            let Some(at) = item.activity.due_at else {
                continue;
            };
            let group = if at < now {
                &mut groups.overdue
            } else if at < tomorrow {
                &mut groups.today
            } else {
                &mut groups.coming_up
            };
            group.push(item);
        }
        groups
    }
}

/// The next UTC midnight after `now`.
fn next_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    (now.date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map_or(now, |midnight| midnight.and_utc())
}

/// `GET /my-day`.
pub(super) async fn my_day(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
) -> Response {
    let now = crate::api::now();
    let tomorrow = next_midnight(now);
    let until = tomorrow + Duration::days(COMING_UP_DAYS);
    let due = crate::api::read(&state, &staff.principal, async |tx| {
        activities::due_for(tx, &staff.principal, until, SHOWN).await
    })
    .await;
    let due = match due {
        Ok(due) => due,
        Err(err) => return page::api_error(Some(&staff), err),
    };
    let capped = due.len() as i64 >= SHOWN;
    let groups = Groups::of(due, now, tomorrow);
    let flash = Flash::from_headers(&headers);
    let cleared = flash.is_some();
    let markup = page::document(
        Chrome {
            title: "My day",
            staff: Some(&staff),
            flash,
            nav: Nav::MyDay,
        },
        html! {
            h1 { "My day" }
            p.help {
                "Tasks and follow-ups assigned to you that are not completed. Times are in UTC; today is "
                time datetime=(now.format("%Y-%m-%d")) { (now.format("%A %-d %B %Y")) } "."
            }
            @if groups.overdue.is_empty() && groups.today.is_empty() {
                p.empty {
                    "Nothing is overdue or due today"
                    @if groups.coming_up.is_empty() { ", nor in the next " (COMING_UP_DAYS) " days" }
                    "."
                }
            }
            (group(&staff, "overdue", "Overdue", &groups.overdue, "%Y-%m-%d %H:%M"))
            (group(&staff, "today", "Due today", &groups.today, "%H:%M"))
            (group(&staff, "coming-up", "Coming up", &groups.coming_up, "%a %Y-%m-%d %H:%M"))
            @if capped {
                p.help { "Only the " (SHOWN) " soonest are shown." }
            }
        },
    );
    page::respond(StatusCode::OK, markup, cleared)
}

/// One group as a table, or nothing when it is empty.
fn group(staff: &Staff, id: &str, title: &str, items: &[Due], time_format: &str) -> Markup {
    let heading = format!("{id}-h");
    html! {
        @if !items.is_empty() {
            section.due-group id=(id) aria-labelledby=(heading) {
                h2 id=(heading) { (title) " " span.count { "(" (items.len()) ")" } }
                table {
                    thead { tr {
                        th scope="col" { "Due" }
                        th scope="col" { "Subject" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Lead" }
                        th scope="col" { span.visually-hidden { "Action" } }
                    } }
                    tbody {
                        @for item in items {
                            @let a = &item.activity;
                            tr id={ "due-" (a.id) } {
                                td {
                                    @if let Some(at) = a.due_at {
                                        time datetime=(at.to_rfc3339()) { (at.format(time_format)) }
                                    }
                                }
                                td { (a.subject) }
                                td { (labels::activity(a.kind)) }
                                td { a href={ "/leads/" (a.lead_id) } { (item.lead_name) } }
                                td { (complete_form(staff, a.id, Some(a.version), "/my-day", &a.subject)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activities::model::{ActivityKind, ActivityRow};
    use uuid::Uuid;

    fn due_at(at: DateTime<Utc>) -> Due {
        let mut row = ActivityRow::new(
            Uuid::nil(),
            Uuid::nil(),
            ActivityKind::Task,
            Uuid::nil(),
            at,
        );
        row.due_at = Some(at);
        Due {
            activity: row.show(at),
            lead_name: "Ada".into(),
        }
    }

    #[test]
    fn the_next_midnight_is_the_start_of_the_next_utc_day() {
        let now = "2026-12-05T23:59:59Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(next_midnight(now).to_rfc3339(), "2026-12-06T00:00:00+00:00");
        let now = "2026-12-05T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(next_midnight(now).to_rfc3339(), "2026-12-06T00:00:00+00:00");
    }

    #[test]
    fn past_due_is_overdue_later_today_is_today_and_the_rest_comes_up() {
        let now = "2026-12-05T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let tomorrow = next_midnight(now);
        let groups = Groups::of(
            vec![
                due_at(now - Duration::days(2)),
                due_at(now - Duration::minutes(1)),
                due_at(now),
                due_at(tomorrow - Duration::minutes(1)),
                due_at(tomorrow),
            ],
            now,
            tomorrow,
        );
        assert_eq!(
            (
                groups.overdue.len(),
                groups.today.len(),
                groups.coming_up.len()
            ),
            (2, 2, 1)
        );
    }
}
