//! Reading a CSV file of leads: the header row names the columns (the
//! API's field names, the console's export, or the words a spreadsheet
//! would use: "Customer", "Phone number", "Install date"), and each further
//! row becomes the fields of an API upsert, checked by the API's own
//! [`LeadInput::upsert`].
//!
//! A blank cell leaves the field alone (an import never clears a field);
//! the owner is found among the shop's users by email or name; tags are
//! separated by `;` (or `,`, inside a quoted cell).

use serde_json::{Map, Value};

use super::model::{Problem, Refused, Row};
use crate::api::fields::Errors;
use crate::auth::store::UserRow;
use crate::leads::input::LeadInput;

/// The most rows (after the header) one file may hold.
pub const MAX_ROWS: usize = 20_000;

/// Why a file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// The file has no header row.
    #[error("the file is empty")]
    Empty,
    /// The file is not UTF-8 text.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// No column holds the lead's name.
    #[error("no column holds the customer's name")]
    NoNameColumn,
    /// Two columns name the same field.
    #[error("the columns “{0}” and “{1}” both hold the same field")]
    DuplicateColumn(String, String),
    /// More rows than [`MAX_ROWS`].
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    /// The CSV itself is malformed.
    #[error("line {line} could not be read: {reason}")]
    Malformed {
        /// The line (1 is the header).
        line: u64,
        /// What the CSV reader said.
        reason: String,
    },
}

/// What a file's columns hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// A field of the API's upsert, by its name.
    Field(&'static str),
    /// The owner, as a user's email or name.
    Owner,
    /// Tags, separated by `;` or `,`.
    Tags,
    /// Known but not imported, with why.
    Ignored(&'static str),
    /// Not a column crm-app knows.
    Unknown,
}

impl Column {
    /// The column a header names (case, spaces and punctuation ignored).
    ///
    /// ```
    /// use crm_app::leads::import::Column;
    /// assert_eq!(Column::of("Phone number"), Column::Field("phone"));
    /// assert_eq!(Column::of("external_id"), Column::Field("externalId"));
    /// assert_eq!(Column::of("Owner email"), Column::Owner);
    /// assert_eq!(Column::of("Favourite wood"), Column::Unknown);
    /// ```
    pub fn of(header: &str) -> Self {
        let key: String = header
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        match key.as_str() {
            "id" | "leadid" => Column::Field("id"),
            "externalid" | "externalref" | "reference" | "ref" => Column::Field("externalId"),
            "name" | "customer" | "customername" | "contact" | "contactname" | "fullname"
            | "leadname" => Column::Field("name"),
            "company" | "business" | "organisation" | "organization" => Column::Field("company"),
            "email" | "emailaddress" => Column::Field("email"),
            "phone" | "phonenumber" | "telephone" | "tel" | "mobile" => Column::Field("phone"),
            "source" | "leadsource" => Column::Field("source"),
            "projecttype" | "project" | "jobtype" => Column::Field("projectType"),
            "estimatedvalue" | "value" | "estimate" | "amount" => Column::Field("estimatedValue"),
            "currency" => Column::Field("currency"),
            "siteaddress" | "address" | "installaddress" => Column::Field("siteAddress"),
            "desiredinstalldate" | "installdate" | "installationdate" => {
                Column::Field("desiredInstallDate")
            }
            "notes" | "note" | "comments" => Column::Field("notes"),
            "owner" | "owneremail" | "ownername" | "assignedto" => Column::Owner,
            "tags" | "labels" => Column::Tags,
            "status" | "stage" | "lostreason" => {
                Column::Ignored("a lead's status moves on the board, not by import")
            }
            "created" | "createdat" | "updated" | "updatedat" | "version" => {
                Column::Ignored("the service keeps it")
            }
            _ => Column::Unknown,
        }
    }
}

/// A file read: its rows, those refused and why, and the columns it
/// ignores.
#[derive(Debug, Clone, Default)]
pub(super) struct Sheet {
    /// The rows whose fields the API's upsert accepts.
    pub rows: Vec<(Row, LeadInput)>,
    /// The rows it refuses.
    pub refused: Vec<Refused>,
    /// Columns not imported, each with why.
    pub ignored: Vec<(String, &'static str)>,
}

/// Reads `bytes` as a CSV file of leads for a shop with `users`; a value
/// without a currency takes `currency`.
///
/// # Errors
///
/// A [`SheetError`] when the file as a whole cannot be read; a row that
/// cannot be imported is [refused](Sheet::refused) instead.
pub(super) fn read(bytes: &[u8], users: &[UserRow], currency: &str) -> Result<Sheet, SheetError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SheetError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().ok_or(SheetError::Empty)?;
    // Spreadsheets in many locales save with semicolons.
    let delimiter = if first.contains(';') && !first.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| malformed(1, &e))?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(SheetError::Empty);
    }
    let columns: Vec<Column> = headers.iter().map(|h| Column::of(h)).collect();
    for (i, column) in columns.iter().enumerate() {
        if let Some(j) = columns[..i]
            .iter()
            .position(|c| *c == *column && !matches!(c, Column::Ignored(_) | Column::Unknown))
        {
            return Err(SheetError::DuplicateColumn(
                headers[j].trim().to_owned(),
                headers[i].trim().to_owned(),
            ));
        }
    }
    if !columns.contains(&Column::Field("name")) && !columns.contains(&Column::Field("id")) {
        return Err(SheetError::NoNameColumn);
    }
    let mut sheet = Sheet {
        ignored: headers
            .iter()
            .zip(&columns)
            .filter_map(|(h, c)| match c {
                Column::Ignored(why) => Some((h.trim().to_owned(), *why)),
                Column::Unknown if !h.trim().is_empty() => {
                    Some((h.trim().to_owned(), "crm-app has no such field"))
                }
                _ => None,
            })
            .collect(),
        ..Sheet::default()
    };
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        let record = record.map_err(|e| malformed(line, &e))?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if sheet.rows.len() + sheet.refused.len() >= MAX_ROWS {
            return Err(SheetError::TooManyRows);
        }
        let name_cell = columns
            .iter()
            .position(|c| *c == Column::Field("name"))
            .and_then(|i| record.get(i))
            .unwrap_or_default()
            .trim()
            .to_owned();
        match fields(&record, &columns, users, currency) {
            Ok(fields) => match LeadInput::upsert(Value::Object(fields.clone())) {
                Ok(input) => sheet.rows.push((
                    Row {
                        line,
                        fields,
                        matches: None,
                        after_line: None,
                    },
                    input,
                )),
                Err(errors) => sheet.refused.push(Refused {
                    line,
                    name: name_cell,
                    problems: problems(errors),
                }),
            },
            Err(problems) => sheet.refused.push(Refused {
                line,
                name: name_cell,
                problems,
            }),
        }
    }
    Ok(sheet)
}

fn malformed(line: u64, err: &csv::Error) -> SheetError {
    let reason = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "it is not UTF-8 text".to_owned(),
        _ => err.to_string(),
    };
    SheetError::Malformed { line, reason }
}

fn problems(errors: Errors) -> Vec<Problem> {
    errors
        .0
        .into_iter()
        .map(|e| Problem {
            field: e.field,
            message: e.message,
        })
        .collect()
}

/// The upsert fields of one row.
fn fields(
    record: &csv::StringRecord,
    columns: &[Column],
    users: &[UserRow],
    currency: &str,
) -> Result<Map<String, Value>, Vec<Problem>> {
    let mut fields = Map::new();
    let mut problems = Vec::new();
    for (cell, column) in record.iter().zip(columns) {
        let cell = cell.trim();
        // The console's export writes `'` before a leading `=`, `+`, `-`
        // or `@` so that spreadsheets never run a cell as a formula.
        let cell = cell
            .strip_prefix('\'')
            .filter(|rest| rest.starts_with(['=', '+', '-', '@']))
            .unwrap_or(cell);
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Field(name @ ("source" | "projectType")) => {
                fields.insert((*name).into(), Value::from(code(cell)));
            }
            Column::Field("estimatedValue") => {
                fields.insert("estimatedValue".into(), Value::from(amount(cell)));
            }
            Column::Field("currency") => {
                fields.insert("currency".into(), Value::from(cell.to_uppercase()));
            }
            Column::Field(name) => {
                fields.insert((*name).into(), Value::from(cell));
            }
            Column::Owner => match owner(cell, users) {
                Some(user) => {
                    fields.insert("ownerUserId".into(), Value::from(user.id.to_string()));
                }
                None => problems.push(Problem {
                    field: "ownerUserId".into(),
                    message: format!("“{cell}” is not a user of this shop"),
                }),
            },
            Column::Tags => {
                let tags: Vec<Value> = cell
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(Value::from)
                    .collect();
                fields.insert("tags".into(), Value::Array(tags));
            }
            Column::Ignored(_) | Column::Unknown => {}
        }
    }
    if fields.contains_key("estimatedValue") && !fields.contains_key("currency") {
        fields.insert("currency".into(), Value::from(currency));
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems)
    }
}

/// A code as the API writes it, from its label too ("Built-in",
/// "Web form").
fn code(cell: &str) -> String {
    cell.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

/// An amount as the API writes it, from the way spreadsheets show one
/// (`$18,450.00`); anything else is passed on for the API's rule to judge.
fn amount(cell: &str) -> String {
    let bare = cell.trim_start_matches(['$', '€', '£']).trim();
    let grouped = bare.split('.').next().unwrap_or_default();
    let groups: Vec<&str> = grouped.split(',').collect();
    let well_grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()));
    if well_grouped {
        bare.replace(',', "")
    } else {
        bare.to_owned()
    }
}

fn owner<'a>(cell: &str, users: &'a [UserRow]) -> Option<&'a UserRow> {
    users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(cell))
        .or_else(|| users.iter().find(|u| u.name.eq_ignore_ascii_case(cell)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn users() -> Vec<UserRow> {
        vec![UserRow {
            tenant_id: Uuid::nil(),
            id: Uuid::from_u128(7),
            email: "sam@shop.test".into(),
            name: "Sam Reyes".into(),
            password_hash: String::new(),
            role: "member".into(),
        }]
    }

    #[test]
    fn a_spreadsheets_words_become_the_apis_fields() {
        let file = "Customer,Company,E-mail,Phone number,Project type,Source,Value,Owner,Tags\n\
                    Ada Quinn,Oak & Ash,ada@example.com,555 0100,Built-in,Web form,\"$18,450.00\",Sam Reyes,\"walnut; rush\"\n";
        let sheet = read(file.as_bytes(), &users(), "USD").unwrap();
        assert!(sheet.refused.is_empty(), "{:?}", sheet.refused);
        let fields = &sheet.rows[0].0.fields;
        assert_eq!(fields["name"], "Ada Quinn");
        assert_eq!(fields["projectType"], "built_in");
        assert_eq!(fields["source"], "web_form");
        assert_eq!(fields["estimatedValue"], "18450.00");
        assert_eq!(fields["currency"], "USD");
        assert_eq!(fields["ownerUserId"], Uuid::from_u128(7).to_string());
        assert_eq!(fields["tags"], serde_json::json!(["walnut", "rush"]));
        assert_eq!(sheet.rows[0].0.line, 2);
    }

    #[test]
    fn a_row_the_api_would_refuse_is_refused_with_each_problem() {
        let file = "name,email,source,owner\n\
                    Good Row,good@example.com,referral,\n\
                    Bad Row,not-an-email,carrier pigeon,nobody@else.test\n\
                    ,missing@example.com,referral,\n";
        let sheet = read(file.as_bytes(), &users(), "USD").unwrap();
        assert_eq!(
            sheet.rows.len(),
            2,
            "the row without a name may still update a lead"
        );
        assert_eq!(sheet.refused.len(), 1);
        let refused = &sheet.refused[0];
        assert_eq!((refused.line, refused.name.as_str()), (3, "Bad Row"));
        assert_eq!(refused.problems[0].field, "ownerUserId");
    }

    #[test]
    fn an_invalid_value_is_refused_by_the_apis_rule() {
        let file = "name,email\nBad Row,not-an-email\n";
        let sheet = read(file.as_bytes(), &users(), "USD").unwrap();
        assert_eq!(sheet.refused.len(), 1);
        assert_eq!(sheet.refused[0].problems[0].field, "email");
    }

    #[test]
    fn the_exports_formula_guard_is_taken_off_again() {
        let file = "name,phone\nAda,'+1 555 0100\n";
        let sheet = read(file.as_bytes(), &[], "USD").unwrap();
        assert_eq!(sheet.rows[0].0.fields["phone"], "+1 555 0100");
    }

    #[test]
    fn blank_rows_are_skipped_and_blank_cells_leave_fields_alone() {
        let file = "name,company,notes\nAda,,\n,,\n";
        let sheet = read(file.as_bytes(), &users(), "USD").unwrap();
        assert_eq!(sheet.rows.len(), 1);
        assert!(!sheet.rows[0].0.fields.contains_key("company"));
    }

    #[test]
    fn a_semicolon_separated_file_with_a_byte_order_mark_is_read() {
        let file = "\u{feff}Name;Company\nAda;Oak, Ash and Co\n";
        let sheet = read(file.as_bytes(), &users(), "USD").unwrap();
        assert_eq!(sheet.rows[0].0.fields["company"], "Oak, Ash and Co");
    }

    #[test]
    fn a_file_that_cannot_be_read_says_why() {
        assert_eq!(read(b"", &[], "USD").unwrap_err(), SheetError::Empty);
        assert_eq!(
            read(b"\xff\xfe", &[], "USD").unwrap_err(),
            SheetError::NotUtf8
        );
        assert_eq!(
            read(b"company,email\nx,y\n", &[], "USD").unwrap_err(),
            SheetError::NoNameColumn
        );
        assert_eq!(
            read(b"name,Customer\nx,y\n", &[], "USD").unwrap_err(),
            SheetError::DuplicateColumn("name".into(), "Customer".into())
        );
        let many = format!("name\n{}", "x\n".repeat(MAX_ROWS + 1));
        assert_eq!(
            read(many.as_bytes(), &[], "USD").unwrap_err(),
            SheetError::TooManyRows
        );
    }

    #[test]
    fn status_and_unknown_columns_are_named_as_not_imported() {
        let file = "name,status,favourite wood\nAda,won,oak\n";
        let sheet = read(file.as_bytes(), &[], "USD").unwrap();
        let names: Vec<&str> = sheet.ignored.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, ["status", "favourite wood"]);
        assert!(!sheet.rows[0].0.fields.contains_key("status"));
    }

    #[test]
    fn an_amount_is_read_as_spreadsheets_show_it_and_otherwise_passed_on() {
        assert_eq!(amount("$18,450.00"), "18450.00");
        assert_eq!(amount("1,234,567"), "1234567");
        assert_eq!(amount("18450"), "18450");
        assert_eq!(amount("18,45"), "18,45"); // for the API's rule to refuse
    }
}
