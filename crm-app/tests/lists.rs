//! The list routes of leads and activities: keyset paging that holds
//! while rows are inserted, the filters, and rows shown exactly as the
//! resource read alone. On PostgreSQL (as an ordinary role, under
//! Row-Level Security) and on SQLite.

mod common;

use common::{Harness, Resp, on_both_databases};
use http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;

on_both_databases!(
    paging_through_250_leads_while_rows_are_inserted_sees_each_lead_once,
    pages_filtered_by_several_statuses_follow_the_order_of_the_whole_list,
    activity_lists_filter_by_lead_type_open_overdue_and_due_window,
    lead_lists_filter_by_status_source_owner_text_and_update_time,
    a_listed_lead_is_shown_exactly_as_the_lead_read_alone,
);

async fn pages_filtered_by_several_statuses_follow_the_order_of_the_whole_list(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    for i in 0..30 {
        let lead = h
            .lead(&ada, json!({"name": format!("L{:02}", (i * 7) % 30)}))
            .await;
        let id = lead["id"].as_str().unwrap();
        let to = match i % 3 {
            0 => "contacted",
            1 => "qualified",
            _ => continue,
        };
        let r = h
            .patch(
                &format!("/api/crm/leads/{id}/status"),
                &ada,
                json!({"status": to}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    let ids_of = |r: &Resp, wanted: &[&str]| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| wanted.contains(&l["status"].as_str().unwrap()))
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for sort in [
        "-createdAt",
        "createdAt",
        "name",
        "-name",
        "updatedAt",
        "-updatedAt",
    ] {
        let all = h
            .get(&format!("/api/crm/leads?limit=200&sort={sort}"), &ada)
            .await;
        let expected = ids_of(&all, &["contacted", "qualified"]);
        assert_eq!(expected.len(), 20);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/crm/leads?limit=3&sort={sort}&status=qualified,contacted");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = h.get(&path, &ada).await;
            assert_eq!(r.status, StatusCode::OK, "{sort}: {r:?}");
            seen.extend(ids_of(&r, &["contacted", "qualified"]));
            assert_eq!(
                seen.len() % 3,
                if r.body["pageInfo"]["hasNextPage"] == true {
                    0
                } else {
                    2
                }
            );
            match r.body["pageInfo"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{sort}");
    }
    // A status named twice is one branch: each lead once.
    let r = h
        .get("/api/crm/leads?limit=200&status=qualified,qualified", &ada)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 10);
}

async fn paging_through_250_leads_while_rows_are_inserted_sees_each_lead_once(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let mut expected = HashSet::new();
    for i in 0..250 {
        let lead = h.lead(&ada, json!({"name": format!("Lead {i:03}")})).await;
        expected.insert(lead["id"].as_str().unwrap().to_owned());
    }
    for sort in ["-createdAt", "createdAt", "name", "-updatedAt"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/crm/leads?limit=40&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = h.get(&path, &ada).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            for lead in r.body["data"].as_array().unwrap() {
                seen.push(lead["id"].as_str().unwrap().to_owned());
            }
            pages += 1;
            // Rows arrive (and one existing row changes name) mid-walk.
            h.lead(&ada, json!({"name": format!("Late {sort} {pages}")}))
                .await;
            if r.body["pageInfo"]["hasNextPage"] == false {
                assert_eq!(r.body["pageInfo"]["nextCursor"], Value::Null);
                break;
            }
            cursor = Some(
                r.body["pageInfo"]["nextCursor"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a lead was served twice");
        assert!(expected.is_subset(&unique), "{sort}: a lead was skipped");
    }
    // The default page is 50; 200 is the most.
    let r = h.get("/api/crm/leads", &ada).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 50);
    let r = h.get("/api/crm/leads?limit=201", &ada).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A cursor made for one sort is refused by another.
    let r = h.get("/api/crm/leads?limit=1&sort=name", &ada).await;
    let cursor = r.body["pageInfo"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h
        .get(&format!("/api/crm/leads?sort=-name&cursor={cursor}"), &ada)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );
}

async fn activity_lists_filter_by_lead_type_open_overdue_and_due_window(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let a = h.lead(&ada, json!({"name": "A"})).await;
    let b = h.lead(&ada, json!({"name": "B"})).await;
    let mk = |lead: &Value, kind: &str, subject: &str, extra: Value| {
        let mut body = json!({"leadId": lead["id"], "type": kind, "subject": subject});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for body in [
        mk(
            &a,
            "task",
            "overdue",
            json!({"dueAt": "2020-01-01T00:00:00Z", "assignedUserId": bo.id}),
        ),
        mk(
            &a,
            "task",
            "future",
            json!({"dueAt": "2099-01-01T00:00:00Z"}),
        ),
        mk(
            &a,
            "call",
            "done",
            json!({"dueAt": "2020-01-01T00:00:00Z", "completed": true}),
        ),
        mk(&b, "email", "other lead", json!({"direction": "inbound"})),
    ] {
        let r = h.post("/api/crm/activities", &ada, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?overdue=true", "subject", true)
            .await,
        ["overdue"]
    );
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?open=true", "subject", true)
            .await,
        ["future", "other lead", "overdue"]
    );
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?open=false", "subject", true)
            .await,
        ["done"]
    );
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?type=email", "subject", true)
            .await,
        ["other lead"]
    );
    assert_eq!(
        h.texts(
            &ada,
            "/api/crm/activities?dueBefore=2021-01-01T00:00:00Z",
            "subject",
            true
        )
        .await,
        ["done", "overdue"]
    );
    assert_eq!(
        h.texts(
            &ada,
            "/api/crm/activities?dueAfter=2021-01-01T00:00:00Z",
            "subject",
            true
        )
        .await,
        ["future"]
    );
    let r = h
        .get(
            &format!("/api/crm/activities?assignedUserId={}", bo.id),
            &ada,
        )
        .await;
    assert_eq!(r.body["data"][0]["isOverdue"], true);
    let r = h
        .get(
            &format!("/api/crm/activities?leadId={}", b["id"].as_str().unwrap()),
            &ada,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        h.get("/api/crm/activities?type=fax", &ada).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        h.get("/api/crm/activities?dueBefore=tomorrow", &ada)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Direction is for calls and emails; an unknown user cannot be assigned.
    let r = h
        .post(
            "/api/crm/activities",
            &ada,
            mk(&a, "note", "n", json!({"direction": "inbound"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .post(
            "/api/crm/activities",
            &ada,
            mk(
                &a,
                "task",
                "t",
                json!({"assignedUserId": uuid::Uuid::new_v4()}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assignedUserId"))
    );
    let id = h.get("/api/crm/activities?type=email", &ada).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h.get(&format!("/api/crm/activities/{id}"), &bo).await;
    assert_eq!(
        (r.status, r.body["direction"].as_str()),
        (StatusCode::OK, Some("inbound"))
    );
}

async fn a_listed_lead_is_shown_exactly_as_the_lead_read_alone(h: &Harness) {
    // The list writes its page from `LeadRef`s borrowed from the result
    // rows; a lead read alone is decoded into an owned `LeadRow` first. The
    // two decodings, on each database, must show the same lead.
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let full = h
        .lead(
            &ada,
            json!({
                "externalId": "web-\"77\"",
                "name": "Maïa \"Oak\" O'Brien \\ 🌳",
                "company": "Birch & Co <Ltd>",
                "email": "Maia@Example.com",
                "phone": "+1 555 0100",
                "source": "referral",
                "projectType": "kitchen",
                "estimatedValue": "18450.5",
                "currency": "BHD",
                "siteAddress": "12 Mill Rd\nUnit 4",
                "desiredInstallDate": "2027-03-15",
                "ownerUserId": bo.id,
                "tags": ["oak", "walnut \"dark\"", "ünïcode"],
                "notes": "Line one\nLine two\twith a tab\r\n\\ and a backslash",
            }),
        )
        .await;
    let bare = h.lead(&ada, json!({"name": "Bo"})).await;
    let page = h.get("/api/crm/leads?sort=name", &ada).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let listed = page.body["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (lead, listed) in [(&bare, &listed[0]), (&full, &listed[1])] {
        let id = lead["id"].as_str().unwrap();
        let alone = h.get(&format!("/api/crm/leads/{id}"), &ada).await;
        assert_eq!(alone.status, StatusCode::OK, "{alone:?}");
        assert_eq!(listed, &alone.body);
    }
    assert_eq!(listed[1]["estimatedValue"], "18450.500");
    assert_eq!(
        listed[1]["tags"],
        json!(["oak", "walnut \"dark\"", "ünïcode"])
    );
    assert_eq!(listed[0]["company"], Value::Null);
}

async fn lead_lists_filter_by_status_source_owner_text_and_update_time(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let a = h.lead(&ada, json!({"name": "Ana Ruiz", "company": "Oak_Works", "source": "referral", "ownerUserId": bo.id})).await;
    let b = h
        .lead(
            &ada,
            json!({"name": "Bo Chen", "email": "bo@CHEN.example", "source": "showroom"}),
        )
        .await;
    let c = h
        .lead(
            &ada,
            json!({"name": "Cy Diaz", "phone": "+44 20 7946 0958", "source": "referral"}),
        )
        .await;
    h.patch(
        &format!("/api/crm/leads/{}/status", c["id"].as_str().unwrap()),
        &ada,
        json!({"status": "lost", "lostReason": "timing"}),
    )
    .await;
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "status=new"),
            "name",
            false
        )
        .await,
        ["Ana Ruiz", "Bo Chen"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "status=lost,won"),
            "name",
            false
        )
        .await,
        ["Cy Diaz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "source=referral"),
            "name",
            false
        )
        .await,
        ["Ana Ruiz", "Cy Diaz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&ownerUserId={}", bo.id),
            "name",
            false
        )
        .await,
        ["Ana Ruiz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=chen"),
            "name",
            false
        )
        .await,
        ["Bo Chen"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=oak_"),
            "name",
            false
        )
        .await,
        ["Ana Ruiz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=%25"),
            "name",
            false
        )
        .await,
        Vec::<String>::new(),
        "% is a literal"
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=7946"),
            "name",
            false
        )
        .await,
        ["Cy Diaz"]
    );
    let since = b["updatedAt"].as_str().unwrap().to_owned();
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&updatedAfter={since}"),
            "name",
            false
        )
        .await,
        ["Cy Diaz"]
    );
    let r = h.get("/api/crm/leads?sort=-name", &bo).await;
    let order: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["Cy Diaz", "Bo Chen", "Ana Ruiz"]);
    for bad in [
        "status=open",
        "source=billboard",
        "sort=password",
        "updatedAfter=yesterday",
        "limit=0",
    ] {
        let r = h.get(&format!("/api/crm/leads?{bad}"), &bo).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
    }
    let _ = a;
}
