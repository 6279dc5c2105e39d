//! The console in a real Chromium against the real crm-app binary, on
//! SQLite and on PostgreSQL: every scenario runs on both.

use std::time::Duration;

use e2e::browser::{Browser, Viewport};
use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("admin@cutlist.pro", "admin123");
const MEMBER: (&str, &str) = ("sam@cutlist.pro", "a long member password");

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// crm-app in development (the demo shop's admin seeded), on `backend`.
struct Console {
    base: String,
    token: String,
    _proc: Proc,
    db: Option<TestDb>,
}

impl Console {
    async fn start(backend: Backend) -> Self {
        let (url, db) = match backend {
            Backend::Sqlite => (e2e::temp_sqlite_url(), None),
            Backend::Postgres => {
                let db = TestDb::postgres().await;
                (db.url.clone(), Some(db))
            }
        };
        let (proc, base) = Proc::start_listening(
            Binary::CrmApp,
            &[("HOST", "127.0.0.1"), ("DATABASE_URL", &url)],
        );
        wait_ready(&base).await;
        let token = api_login(&base, ADMIN).await;
        Self {
            base,
            token,
            _proc: proc,
            db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn api(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let client = reqwest::Client::new();
        let request = match method {
            "POST" => client.post(self.url(path)),
            "PATCH" => client.patch(self.url(path)).header("if-match", "*"),
            "DELETE" => client.delete(self.url(path)).header("if-match", "*"),
            _ => client.get(self.url(path)),
        };
        let request = if method == "GET" || method == "DELETE" {
            request
        } else {
            request.json(&body)
        };
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn lead(&self, name: &str) -> String {
        let (status, body) = self
            .api(
                "POST",
                "/api/crm/leads",
                json!({"name": name, "company": "Oak & Ash", "projectType": "kitchen",
                       "source": "referral", "estimatedValue": "18450.00", "currency": "USD"}),
            )
            .await;
        assert!(status == 201, "{status} {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Records an activity through the API; its id.
    async fn activity(&self, body: Value) -> String {
        let (status, created) = self.api("POST", "/api/crm/activities", body).await;
        assert!(status == 201, "{status} {created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// Adds the member [`MEMBER`] through the API; their id.
    async fn add_member(&self) -> String {
        let (status, user) = self
            .api(
                "POST",
                "/api/users",
                json!({"email": MEMBER.0, "name": "Sam Member", "password": MEMBER.1, "role": "member"}),
            )
            .await;
        assert!(status == 201, "{status} {user}");
        user["id"].as_str().unwrap().to_owned()
    }

    async fn status_of(&self, id: &str) -> String {
        let (_, body) = self
            .api("GET", &format!("/api/crm/leads/{id}"), Value::Null)
            .await;
        body["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn finish(self) {
        drop(self._proc);
        if let Some(db) = self.db {
            db.drop_db().await;
        }
    }
}

async fn wait_ready(base: &str) {
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{base}/api/health/ready")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became ready");
}

async fn api_login(base: &str, (email, password): (&str, &str)) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["accessToken"].as_str().expect("a token").to_owned()
}

/// Clicks `css` and waits for the page it leads to (a form's redirect).
async fn click_and_load(browser: &Browser, css: &str) {
    browser
        .execute("window.__before_navigation = true", vec![])
        .await;
    browser.click(css).await;
    loaded(browser).await;
}

/// Submits the form `css` and waits for the next page.
async fn submit_and_load(browser: &Browser, css: &str) {
    browser
        .execute("window.__before_navigation = true", vec![])
        .await;
    browser.submit(css).await;
    loaded(browser).await;
}

async fn loaded(browser: &Browser) {
    for _ in 0..200 {
        let done = browser
            .execute(
                "return window.__before_navigation === undefined && document.readyState === 'complete'",
                vec![],
            )
            .await;
        if done == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the next page never loaded");
}

async fn sign_in(browser: &Browser, console: &Console, (email, password): (&str, &str)) {
    browser.goto(&console.url("/sign-in")).await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    click_and_load(browser, "button[type=submit]").await;
    browser.wait_for(".board").await;
}

async fn both(scenario: impl AsyncFn(&Console, &Browser)) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let console = Console::start(backend).await;
        let browser = Browser::start(Viewport::Desktop).await;
        scenario(&console, &browser).await;
        browser.close().await;
        console.finish().await;
    }
}

fn card(id: &str) -> String {
    format!("#card-{id}")
}

fn column(status: &str) -> String {
    format!(".column[data-status={status}]")
}

#[tokio::test]
async fn signing_in_shows_the_board_and_signing_out_ends_the_session_for_every_client() {
    both(async |console, browser| {
        browser.goto(&console.url("/")).await;
        browser.wait_for("#email").await;
        assert!(browser.current_url().await.ends_with("/sign-in"));
        assert!(
            browser.text("aside.hint").await.contains(ADMIN.0),
            "the demo user is named"
        );
        browser.assert_accessible("sign-in").await;
        sign_in(browser, console, ADMIN).await;
        for status in ["new", "contacted", "qualified", "quoted", "won", "lost"] {
            assert!(browser.exists(&column(status)).await, "{status} column");
        }
        browser.assert_accessible("board").await;
        let session = browser
            .cookies()
            .await
            .into_iter()
            .find(|c| c.name() == "session")
            .expect("a session cookie")
            .value()
            .to_owned();
        click_and_load(browser, "header .who form[action='/sign-out'] button").await;
        browser.wait_for("#email").await;
        assert!(browser.text(".flash").await.contains("signed out"));
        // The old cookie opens nothing any more, from any client.
        let replay = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(console.url("/"))
            .header("cookie", format!("session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 303);
        assert_eq!(replay.headers()["location"], "/sign-in");
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_on_the_sign_in_page() {
    both(async |console, browser| {
        browser.goto(&console.url("/sign-in")).await;
        browser.fill("#email", ADMIN.0).await;
        browser.fill("#password", "not the password").await;
        click_and_load(browser, "button[type=submit]").await;
        browser.wait_for(".error-summary").await;
        assert!(browser.text(".error-summary").await.contains("not right"));
        assert_eq!(
            browser
                .execute("return document.querySelector('#email').value", vec![])
                .await,
            json!(ADMIN.0)
        );
    })
    .await;
}

#[tokio::test]
async fn a_card_moves_by_its_menu_and_by_drag_and_drop() {
    both(async |console, browser| {
        let by_menu = console.lead("Menu Kitchen").await;
        let by_drag = console.lead("Dragged Bath").await;
        sign_in(browser, console, ADMIN).await;
        browser
            .click(&format!("{} details.move summary", card(&by_menu)))
            .await;
        browser
            .select(&format!("#move-{by_menu}-to"), "qualified")
            .await;
        click_and_load(browser, &format!("#move-{by_menu} button[type=submit]")).await;
        browser.wait_for(".flash.done").await;
        assert!(
            browser
                .text(".flash")
                .await
                .contains("Moved “Menu Kitchen” to Qualified")
        );
        assert!(
            browser
                .exists(&format!("{} {}", column("qualified"), card(&by_menu)))
                .await
        );
        assert_eq!(console.status_of(&by_menu).await, "qualified");

        browser
            .execute("window.__before_navigation = true", vec![])
            .await;
        browser
            .drag_and_drop(&card(&by_drag), &format!("{} .cards", column("contacted")))
            .await;
        loaded(browser).await;
        browser.wait_for(".flash.done").await;
        assert!(
            browser
                .exists(&format!("{} {}", column("contacted"), card(&by_drag)))
                .await
        );
        assert_eq!(console.status_of(&by_drag).await, "contacted");
    })
    .await;
}

#[tokio::test]
async fn an_illegal_move_is_refused_and_explained() {
    both(async |console, browser| {
        let id = console.lead("Too Soon").await;
        sign_in(browser, console, ADMIN).await;
        // During the drag, the columns it may not go to are marked.
        browser.drag_over(&card(&id), &column("won")).await;
        assert!(browser.exists(&format!("{}.refused", column("won"))).await);
        assert!(
            browser
                .exists(&format!("{}.drop-ok", column("qualified")))
                .await
        );
        browser.end_drag(&card(&id)).await;
        browser.drag_and_drop(&card(&id), &column("won")).await;
        assert!(
            browser
                .text("#refused-move")
                .await
                .contains("A new lead can move to contacted, qualified or lost.")
        );
        // The server refuses it too, whatever the page sends.
        browser
            .execute(
                "document.querySelector(arguments[0]).options[0].value = 'won'",
                vec![json!(format!("#move-{id}-to"))],
            )
            .await;
        submit_and_load(browser, &format!("#move-{id}")).await;
        browser.wait_for(".flash.problem").await;
        assert!(
            browser
                .text(".flash")
                .await
                .contains("can't move from New to Won")
        );
        assert_eq!(console.status_of(&id).await, "new");
    })
    .await;
}

#[tokio::test]
async fn moving_to_lost_asks_for_the_reason() {
    both(async |console, browser| {
        let id = console.lead("Went Quiet").await;
        sign_in(browser, console, ADMIN).await;
        browser.drag_and_drop(&card(&id), &column("lost")).await;
        assert_eq!(
            browser
                .execute("return document.activeElement.name", vec![])
                .await,
            json!("lost_reason")
        );
        assert!(
            browser
                .text("#announce")
                .await
                .contains("why the lead was lost")
        );
        assert_eq!(console.status_of(&id).await, "new", "nothing moved yet");
        // Without a reason, the menu's move is refused with the reason why.
        click_and_load(browser, &format!("#move-{id} button[type=submit]")).await;
        browser.wait_for(".flash.problem").await;
        assert!(
            browser
                .text(".flash")
                .await
                .contains("Choose why the lead was lost")
        );
        browser
            .click(&format!("{} details.move summary", card(&id)))
            .await;
        browser.select(&format!("#move-{id}-to"), "lost").await;
        browser
            .select(&format!("#move-{id}-reason"), "no_response")
            .await;
        click_and_load(browser, &format!("#move-{id} button[type=submit]")).await;
        browser.wait_for(".flash.done").await;
        assert_eq!(console.status_of(&id).await, "lost");
    })
    .await;
}

#[tokio::test]
async fn an_edit_that_crossed_another_is_caught_with_nothing_typed_lost() {
    both(async |console, browser| {
        let id = console.lead("Crossed Edits").await;
        sign_in(browser, console, ADMIN).await;
        browser.goto(&console.url(&format!("/leads/{id}"))).await;
        browser.assert_accessible("lead").await;
        browser.fill("#company", "Typed in the shop").await;
        // Someone else saves first.
        let (status, _) = console
            .api(
                "PATCH",
                &format!("/api/crm/leads/{id}"),
                json!({"phone": "+1 555 0100"}),
            )
            .await;
        assert_eq!(status, 200);
        click_and_load(browser, ".lead-form button[type=submit]").await;
        browser.wait_for(".conflict").await;
        assert_eq!(
            browser
                .execute("return document.querySelector('#company').value", vec![])
                .await,
            json!("Typed in the shop")
        );
        assert!(browser.text(".saved-value").await.contains("Oak & Ash"));
        assert_eq!(
            browser
                .execute("return document.querySelector('#phone').value", vec![])
                .await,
            json!("+1 555 0100"),
            "the field not typed in shows the other edit"
        );
        let (_, lead) = console
            .api("GET", &format!("/api/crm/leads/{id}"), Value::Null)
            .await;
        assert_eq!(
            lead["company"], "Oak & Ash",
            "nothing was saved over the other edit"
        );
        // Saving again keeps what was typed, knowingly.
        click_and_load(browser, ".lead-form button[type=submit]").await;
        browser.wait_for(".flash.done").await;
        let (_, lead) = console
            .api("GET", &format!("/api/crm/leads/{id}"), Value::Null)
            .await;
        assert_eq!(lead["company"], "Typed in the shop");
        assert_eq!(lead["phone"], "+1 555 0100", "the other edit is kept");
    })
    .await;
}

#[tokio::test]
async fn a_task_is_logged_with_its_due_date_and_assignee_and_completed() {
    both(async |console, browser| {
        let id = console.lead("Measure Up").await;
        sign_in(browser, console, ADMIN).await;
        browser.goto(&console.url(&format!("/leads/{id}"))).await;
        browser.select("#a-type", "task").await;
        browser
            .fill("#a-subject", "Measure the kitchen walls")
            .await;
        browser
            .execute(
                "document.querySelector('#a-due').value = '2030-01-15T09:30'",
                vec![],
            )
            .await;
        click_and_load(
            browser,
            "section[aria-labelledby=log-h] button[type=submit]",
        )
        .await;
        browser.wait_for(".flash.done").await;
        let timeline = browser.text(".timeline").await;
        assert!(timeline.contains("Measure the kitchen walls"), "{timeline}");
        assert!(timeline.contains("due 2030-01-15 09:30"), "{timeline}");
        assert!(timeline.contains("Dev Admin"), "{timeline}");
        click_and_load(browser, ".timeline form.inline button").await;
        browser.wait_for(".flash.done").await;
        assert!(
            browser
                .text(".flash")
                .await
                .contains("Completed “Measure the kitchen walls”")
        );
        assert!(browser.exists(".timeline .done-flag").await);
    })
    .await;
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    both(async |console, browser| {
        let id = console.lead("Forged Move").await;
        sign_in(browser, console, ADMIN).await;
        browser
            .execute(
                "document.querySelector(arguments[0]).remove()",
                vec![json!(format!("#move-{id} input[name=csrf_token]"))],
            )
            .await;
        submit_and_load(browser, &format!("#move-{id}")).await;
        browser.wait_for("h1").await;
        assert_eq!(browser.text("h1").await, "This form could not be accepted");
        assert_eq!(console.status_of(&id).await, "new");
    })
    .await;
}

#[tokio::test]
async fn a_lead_named_with_script_shows_as_inert_text() {
    both(async |console, browser| {
        let payload = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
        let id = console.lead(payload).await;
        sign_in(browser, console, ADMIN).await;
        let name = browser.text(&format!("{} .card-name", card(&id))).await;
        assert!(name.contains("<script>window.__xss=1</script>"), "{name}");
        browser.goto(&console.url(&format!("/leads/{id}"))).await;
        assert_eq!(
            browser.execute("return typeof window.__xss", vec![]).await,
            json!("undefined")
        );
        assert!(!browser.exists("main img").await, "no element was injected");
    })
    .await;
}

#[tokio::test]
async fn a_member_and_an_admin_each_see_the_moves_their_role_allows() {
    both(async |console, browser| {
        let (status, _) = console
            .api(
                "POST",
                "/api/users",
                json!({"email": MEMBER.0, "name": "Sam Member", "password": MEMBER.1, "role": "member"}),
            )
            .await;
        assert_eq!(status, 201);
        let id = console.lead("Signed Job").await;
        for to in ["qualified", "quoted", "won"] {
            let (status, body) = console
                .api("PATCH", &format!("/api/crm/leads/{id}/status"), json!({"status": to}))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        // Reopening a won job is for admins: only they get the menu.
        sign_in(browser, console, ADMIN).await;
        assert!(browser.exists(&format!("#move-{id}")).await);
        click_and_load(browser, "header .who form[action='/sign-out'] button").await;
        browser.wait_for("#email").await;
        sign_in(browser, console, MEMBER).await;
        assert!(browser.exists(&card(&id)).await);
        assert!(!browser.exists(&format!("#move-{id}")).await);
        assert!(browser.text("header .who").await.contains("Sam Member"));
    })
    .await;
}

#[tokio::test]
async fn the_lead_list_searches_sorts_pages_and_exports_its_filter_as_csv() {
    both(async |console, browser| {
        let walnut = console.lead("Walnut Vanity").await;
        console.lead("Maple Pantry").await;
        sign_in(browser, console, ADMIN).await;
        browser
            .goto(&console.url("/leads?q=walnut&sort=name"))
            .await;
        browser.assert_accessible("leads").await;
        let table = browser.text("table tbody").await;
        assert!(
            table.contains("Walnut Vanity") && !table.contains("Maple Pantry"),
            "{table}"
        );
        assert!(browser.exists(&format!("a[href='/leads/{walnut}']")).await);
        let session = browser
            .cookies()
            .await
            .into_iter()
            .find(|c| c.name() == "session")
            .expect("signed in")
            .value()
            .to_owned();
        let csv = reqwest::Client::new()
            .get(console.url("/leads.csv?q=walnut"))
            .header("cookie", format!("session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("id,external_id,name,company,email"),
            "{text}"
        );
        assert!(
            lines[1].contains("Walnut Vanity") && lines[1].contains(",18450.00,USD,"),
            "{text}"
        );
    })
    .await;
}

/// Writes `contents` to a fresh file named `name` and answers its path.
fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Waits until the main heading reads `heading` (the import's page
/// updates itself while the import runs).
async fn heading_becomes(browser: &Browser, heading: &str) {
    for _ in 0..400 {
        if browser.text("h1").await.starts_with(heading) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the heading never became {heading:?}: {}",
        browser.text("h1").await
    );
}

#[tokio::test]
async fn a_csv_import_is_previewed_with_its_row_errors_then_written_with_its_progress() {
    both(async |console, browser| {
        let (status, existing) = console
            .api(
                "POST",
                "/api/crm/leads",
                json!({"name": "Old Pantry", "email": "pantry@customer.test"}),
            )
            .await;
        assert_eq!(status, 201, "{existing}");
        let existing = existing["id"].as_str().unwrap().to_owned();
        let file = temp_file(
            "shop leads.csv",
            "Customer,Email,Project type,Value\n\
             Iris Bench,iris@customer.test,Built-in,\"$4,800.00\"\n\
             Pantry Redo,pantry@customer.test,,\n\
             Bad Row,not-an-email,,\n\
             <script>alert(1)</script>,xss@customer.test,,\n",
        );
        sign_in(browser, console, ADMIN).await;
        browser.goto(&console.url("/leads")).await;
        click_and_load(browser, "a[href='/leads/import']").await;
        browser.assert_accessible("import").await;

        // The upload form is refused without its CSRF token.
        browser.choose_file("#file", &file).await;
        browser
            .execute(
                "document.querySelector(arguments[0]).remove()",
                vec![json!("form[action='/leads/import'] input[name=csrf_token]")],
            )
            .await;
        submit_and_load(browser, "form[action='/leads/import']").await;
        assert_eq!(browser.text("h1").await, "This form could not be accepted");

        browser.goto(&console.url("/leads/import")).await;
        browser.choose_file("#file", &file).await;
        submit_and_load(browser, "form[action='/leads/import']").await;
        assert_eq!(browser.text("h1").await, "Import preview: shop leads.csv");
        let main = browser.text("main").await;
        for expected in [
            "2 new leads",
            "1 row updates an existing lead",
            "1 row will not be imported",
            "Bad Row",
            "<script>alert(1)</script>",
        ] {
            assert!(main.contains(expected), "{expected:?} in {main}");
        }
        assert!(
            !browser.exists("main script").await,
            "the name is inert text"
        );
        assert!(
            browser
                .exists(&format!("a[href='/leads/{existing}']"))
                .await
        );
        browser.assert_accessible("import preview").await;
        let (_, found) = console
            .api("GET", "/api/crm/leads?q=iris", json!(null))
            .await;
        assert_eq!(
            found["data"],
            json!([]),
            "nothing written before the import"
        );

        submit_and_load(browser, "form[action$='/start']").await;
        heading_becomes(browser, "Imported").await;
        let main = browser.text("main").await;
        assert!(
            main.contains("2 new leads") && main.contains("1 lead updated"),
            "{main}"
        );
        browser.assert_accessible("import result").await;

        let (_, pantry) = console
            .api("GET", &format!("/api/crm/leads/{existing}"), json!(null))
            .await;
        assert_eq!(pantry["name"], "Pantry Redo");
        let (_, iris) = console
            .api("GET", "/api/crm/leads?q=iris", json!(null))
            .await;
        assert_eq!(iris["data"][0]["projectType"], "built_in");
        assert_eq!(iris["data"][0]["estimatedValue"], "4800.00");
        let (_, audit) = console
            .api(
                "GET",
                "/api/audit-logs?action=lead.upsert&limit=100",
                json!(null),
            )
            .await;
        let imported = audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["userAgent"]
                    .as_str()
                    .is_some_and(|ua| ua.contains("Chrome"))
            })
            .count();
        assert_eq!(
            imported, 3,
            "each imported row audited as lead.upsert: {audit}"
        );
    })
    .await;
}

/// Screenshots of each page at both widths, into `target/console-screenshots`
/// and, with `UPDATE_SCREENSHOTS=1`, into `docs/console/` for the guide.
#[tokio::test]
async fn each_page_is_captured_at_desktop_and_tablet_widths() {
    let console = Console::start(Backend::Sqlite).await;
    let mut first = None;
    for (name, company, kind, status) in [
        ("Hannah Okafor", "Okafor Residence", "kitchen", None),
        (
            "Priya Raman",
            "Raman & Sons Builders",
            "built_in",
            Some("contacted"),
        ),
        (
            "Luis Ortega",
            "Ortega Dental",
            "commercial",
            Some("qualified"),
        ),
        ("Grace Whitfield", "", "bath", Some("qualified")),
        ("Tom Becker", "Becker Lofts", "closet", Some("lost")),
    ] {
        let (_, lead) = console
            .api(
                "POST",
                "/api/crm/leads",
                json!({"name": name, "company": if company.is_empty() { Value::Null } else { json!(company) },
                       "projectType": kind, "source": "showroom", "estimatedValue": "12800.00", "currency": "USD"}),
            )
            .await;
        let id = lead["id"].as_str().unwrap().to_owned();
        if let Some(status) = status {
            let body = if status == "lost" {
                json!({"status": status, "lostReason": "price"})
            } else {
                json!({"status": status})
            };
            console
                .api("PATCH", &format!("/api/crm/leads/{id}/status"), body)
                .await;
        }
        first.get_or_insert(id);
    }
    let lead = first.unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    for viewport in [Viewport::Desktop, Viewport::Tablet] {
        let browser = Browser::start(viewport).await;
        let pages = [
            ("sign-in", "/sign-in".to_owned()),
            ("board", "/".to_owned()),
            ("lead", format!("/leads/{lead}")),
            ("leads", "/leads".to_owned()),
        ];
        for (name, path) in pages {
            if name == "board" {
                sign_in(&browser, &console, ADMIN).await;
            }
            browser.goto(&console.url(&path)).await;
            browser.wait_for("main").await;
            let file = format!("{name}-{}.png", viewport.name());
            let out = root.join("target/console-screenshots").join(&file);
            browser.screenshot(&out).await;
            assert!(
                std::fs::metadata(&out).unwrap().len() > 1000,
                "{file} was written"
            );
            if update {
                std::fs::create_dir_all(root.join("docs/console")).unwrap();
                std::fs::copy(&out, root.join("docs/console").join(&file)).unwrap();
            }
        }
        browser.close().await;
    }
    console.finish().await;
}

#[tokio::test]
async fn a_mistyped_lead_address_gets_the_consoles_not_found_page() {
    both(async |console, browser| {
        sign_in(browser, console, ADMIN).await;
        browser.goto(&console.url("/leads/not-a-lead")).await;
        assert_eq!(browser.text("h1").await, "Not found");
        browser
            .goto(&console.url("/leads/00000000-0000-4000-8000-00000000abcd"))
            .await;
        assert_eq!(browser.text("h1").await, "Not found");
        assert!(
            browser.exists("header nav").await,
            "still inside the console"
        );
    })
    .await;
}

#[tokio::test]
async fn signing_out_on_every_device_ends_the_users_other_sessions_too() {
    both(async |console, desk| {
        let tablet = Browser::start(Viewport::Tablet).await;
        sign_in(desk, console, ADMIN).await;
        sign_in(&tablet, console, ADMIN).await;
        click_and_load(
            desk,
            "header .who form[action='/sign-out-everywhere'] button",
        )
        .await;
        assert!(desk.text(".flash").await.contains("every device"));
        tablet.goto(&console.url("/")).await;
        tablet.wait_for("#email").await;
        assert!(tablet.current_url().await.ends_with("/sign-in"));
        tablet.close().await;
    })
    .await;
}

/// A time later today (UTC), with room to spare: past 23:55 UTC, it waits
/// for the next day first, so that "later today" stays today while the
/// test runs.
async fn later_today() -> chrono::DateTime<chrono::Utc> {
    use chrono::{Duration as Days, Utc};
    let midnight = |now: chrono::DateTime<Utc>| {
        (now.date_naive() + Days::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };
    let mut now = Utc::now();
    if midnight(now) - now < Days::minutes(5) {
        tokio::time::sleep((midnight(now) - now + Days::seconds(1)).to_std().unwrap()).await;
        now = Utc::now();
    }
    now + (midnight(now) - now) / 2
}

#[tokio::test]
async fn my_day_lists_my_open_tasks_overdue_and_due_today_and_completes_them_in_place() {
    both(async |console, browser| {
        let admin = crm_app::seed::DEV_ADMIN_ID.to_string();
        let member = console.add_member().await;
        let lead = console.lead("Day Planner Kitchen").await;
        let gone = console.lead("Deleted Pantry").await;
        let long_ago = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
        let today = later_today().await.to_rfc3339();
        let task = |subject: &str, due: &str, user: &str| {
            json!({"leadId": lead, "type": "task", "subject": subject, "dueAt": due, "assignedUserId": user})
        };
        let overdue = console
            .activity(task("Order the soft-close hinges", &long_ago, &admin))
            .await;
        let due_today = console
            .activity(json!({"leadId": lead, "type": "call", "subject": "Call about the island", "dueAt": today, "assignedUserId": admin}))
            .await;
        console
            .activity(task("Sam's template check", &today, &member))
            .await;
        let mut done = task("Already measured", &long_ago, &admin);
        done["completed"] = json!(true);
        console.activity(done).await;
        console
            .activity(json!({"leadId": gone, "type": "task", "subject": "Task on a deleted lead", "dueAt": long_ago, "assignedUserId": admin}))
            .await;
        let (status, _) = console
            .api("DELETE", &format!("/api/crm/leads/{gone}"), Value::Null)
            .await;
        assert_eq!(status, 200);

        sign_in(browser, console, ADMIN).await;
        click_and_load(browser, "header nav a[href='/my-day']").await;
        browser.wait_for("h1").await;
        assert_eq!(browser.text("h1").await, "My day");
        assert!(
            browser
                .exists("header nav a[href='/my-day'][aria-current=page]")
                .await
        );
        let overdue_row = browser.text(&format!("#overdue #due-{overdue}")).await;
        assert!(
            overdue_row.contains("Order the soft-close hinges")
                && overdue_row.contains("Task")
                && overdue_row.contains("Day Planner Kitchen"),
            "{overdue_row}"
        );
        assert!(
            browser
                .exists(&format!("#due-{overdue} a[href='/leads/{lead}']"))
                .await
        );
        let today_row = browser.text(&format!("#today #due-{due_today}")).await;
        assert!(
            today_row.contains("Call about the island") && today_row.contains("Call"),
            "{today_row}"
        );
        let main = browser.text("main").await;
        for hidden in [
            "Sam's template check",
            "Already measured",
            "Task on a deleted lead",
        ] {
            assert!(!main.contains(hidden), "{hidden} is not on my day");
        }
        browser.assert_accessible("my-day").await;

        click_and_load(browser, &format!("#due-{overdue} form.inline button")).await;
        browser.wait_for(".flash.done").await;
        assert!(browser.current_url().await.ends_with("/my-day"));
        assert!(
            browser
                .text(".flash")
                .await
                .contains("Completed “Order the soft-close hinges”")
        );
        assert!(!browser.exists(&format!("#due-{overdue}")).await);
        assert!(browser.exists(&format!("#due-{due_today}")).await);
        let (_, completed) = console
            .api("GET", &format!("/api/crm/activities/{overdue}"), Value::Null)
            .await;
        assert!(completed["completedAt"].is_string(), "{completed}");

        // The member's day holds only their task; completed, the day is
        // empty and says so.
        click_and_load(browser, "header .who form[action='/sign-out'] button").await;
        browser.wait_for("#email").await;
        sign_in(browser, console, MEMBER).await;
        browser.goto(&console.url("/my-day")).await;
        let main = browser.text("main").await;
        assert!(main.contains("Sam's template check"), "{main}");
        assert!(!main.contains("Call about the island"), "{main}");
        click_and_load(browser, "#today form.inline button").await;
        browser.wait_for(".flash.done").await;
        assert!(
            browser
                .text("main .empty")
                .await
                .contains("Nothing is overdue or due today")
        );
        browser.assert_accessible("my-day, empty").await;
    })
    .await;
}

#[tokio::test]
async fn a_removed_users_next_page_load_lands_on_the_sign_in_page() {
    both(async |console, browser| {
        let member = console.add_member().await;
        sign_in(browser, console, MEMBER).await;
        assert!(browser.text("header .who").await.contains("Sam Member"));
        let (status, body) = console
            .api("DELETE", &format!("/api/users/{member}"), Value::Null)
            .await;
        assert_eq!(status, 204, "{body}");
        browser.goto(&console.url("/leads")).await;
        browser.wait_for("#email").await;
        assert!(
            browser.current_url().await.contains("/sign-in"),
            "{}",
            browser.current_url().await
        );
        assert!(!browser.exists("header nav").await, "no page of the shop");
        // Signing in again is refused: the account is gone.
        browser.fill("#email", MEMBER.0).await;
        browser.fill("#password", MEMBER.1).await;
        click_and_load(browser, "button[type=submit]").await;
        browser.wait_for(".error-summary").await;
    })
    .await;
}
