//! The start-up privilege check, against roles made from the grants that
//! docs/tenancy.md gives the service's role.

use crm_app::grants::{self, CheckError};
use ops_kit::testing::TestDb;

/// The `GRANT` statements of docs/tenancy.md, for a role named `{role}`.
fn documented_grants() -> String {
    let doc = include_str!("../../docs/tenancy.md");
    let grants: Vec<&str> = doc
        .lines()
        .skip_while(|line| !line.starts_with("GRANT USAGE ON SCHEMA"))
        .take_while(|line| !line.starts_with("```"))
        .map(|line| line.split("--").next().unwrap_or(line))
        .collect();
    assert!(grants.len() > 3, "the grants block of docs/tenancy.md");
    grants.join("\n").replace("crm_app", "{role}")
}

#[test]
fn the_documented_grants_are_exactly_the_ones_the_service_checks_for() {
    let privileges = |sql: &str| -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for statement in sql.split(';') {
            let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
            let Some(rest) = statement.strip_prefix("GRANT ") else {
                continue;
            };
            let Some((privileges, rest)) = rest.split_once(" ON ") else {
                continue;
            };
            let Some((tables, _)) = rest.split_once(" TO ") else {
                continue;
            };
            for table in tables.split(',') {
                for privilege in privileges.split(',') {
                    pairs.push((table.trim().to_owned(), privilege.trim().to_owned()));
                }
            }
        }
        pairs.sort();
        pairs
    };
    assert_eq!(
        privileges(&documented_grants()),
        privileges(&grants::statements("{role}"))
    );
}

#[tokio::test]
async fn the_documented_grants_give_the_service_every_privilege_it_checks_for() {
    let mut db = TestDb::postgres().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    let pool = db.pool_as_new_role(&documented_grants()).await;
    grants::check(&pool).await.unwrap();
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_role_missing_a_table_is_told_each_privilege_it_lacks_there() {
    let mut db = TestDb::postgres().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    let without_totals = documented_grants().replace(" lead_pipeline_totals,", "");
    assert_ne!(without_totals, documented_grants());
    let pool = db.pool_as_new_role(&without_totals).await;
    let err = grants::check(&pool).await.unwrap_err();
    let CheckError::Missing(missing) = &err else {
        panic!("{err}");
    };
    let pairs: Vec<(&str, &str)> = missing
        .0
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("lead_pipeline_totals", "SELECT"),
            ("lead_pipeline_totals", "INSERT"),
            ("lead_pipeline_totals", "UPDATE"),
            ("lead_pipeline_totals", "DELETE"),
        ]
    );
    assert!(
        err.to_string().contains("DELETE on lead_pipeline_totals"),
        "{err}"
    );
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn sqlite_has_no_roles_and_passes() {
    let db = TestDb::sqlite().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    grants::check(&db.pool).await.unwrap();
    db.drop_db().await;
}
