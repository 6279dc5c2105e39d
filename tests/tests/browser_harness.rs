//! The browser harness itself, in a real headless Chromium: the viewports
//! are the sizes they say, axe-core finds what it should (and nothing on a
//! clean page), HTML5 drag and drop reaches the page's handlers, and
//! screenshots are PNG files.

use e2e::browser::{Browser, Viewport, page_file};

/// A page with two serious faults: an image without alternative text and
/// a text field without a label.
const FAULTY_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Faulty</title></head>
<body>
<main>
  <h1>Faulty</h1>
  <img src="x">
  <form><input type="text" name="q"></form>
</main>
</body>
</html>"#;

/// The same content, well formed.
const WELL_FORMED_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Well formed</title></head>
<body>
<main>
  <h1>Well formed</h1>
  <img src="x" alt="The shop's logo">
  <form>
    <label for="q">Search</label>
    <input id="q" type="text" name="q">
    <button type="submit">Search</button>
  </form>
</main>
</body>
</html>"#;

/// A card that can be dragged onto a drop zone; the page logs the events
/// it receives and shows, in the zone, what was dropped.
const DRAG_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Drag</title>
<style>#card, #zone { width: 200px; height: 100px; margin: 20px; border: 1px solid; }
#zone.over { background: yellow; }</style></head>
<body>
<main>
  <div id="card" draggable="true">Card</div>
  <div id="zone">Drop here</div>
  <p id="log"></p>
</main>
<script>
const log = e => { document.getElementById('log').textContent += (log.n++ ? ',' : '') + e.type; };
log.n = 0;
const card = document.getElementById('card');
const zone = document.getElementById('zone');
card.addEventListener('dragstart', e => { log(e); e.dataTransfer.setData('text/plain', 'card-7'); });
card.addEventListener('dragend', log);
zone.addEventListener('dragenter', e => { log(e); zone.classList.add('over'); });
zone.addEventListener('dragover', e => { log(e); e.preventDefault(); });
zone.addEventListener('dragleave', e => { log(e); zone.classList.remove('over'); });
zone.addEventListener('drop', e => {
  log(e);
  e.preventDefault();
  zone.classList.remove('over');
  zone.textContent = 'dropped ' + e.dataTransfer.getData('text/plain');
});
</script>
</body>
</html>"#;

#[tokio::test]
async fn axe_reports_an_image_without_alternative_text() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(FAULTY_PAGE)).await;
    let violations = browser.axe().await;
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert!(ids.contains(&"image-alt"), "violations: {ids:?}");
    assert!(ids.contains(&"label"), "violations: {ids:?}");
    let image = violations.iter().find(|v| v.id == "image-alt").unwrap();
    assert!(
        image.impact == "serious" || image.impact == "critical",
        "{image}"
    );
    assert!(
        image.nodes.iter().any(|n| n.contains("img")),
        "the offending image is named: {image}"
    );
    assert!(
        image.to_string().starts_with("image-alt ("),
        "the violation reads {image}"
    );
    browser.close().await;
}

#[tokio::test]
async fn axe_finds_nothing_serious_on_a_well_formed_page() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(WELL_FORMED_PAGE)).await;
    assert_eq!(browser.axe().await, vec![]);
    browser.assert_accessible("the well-formed page").await;
    browser.close().await;
}

#[tokio::test]
#[should_panic(expected = "serious or critical violation")]
async fn assert_accessible_fails_on_a_faulty_page() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(FAULTY_PAGE)).await;
    browser.assert_accessible("the faulty page").await;
}

#[tokio::test]
async fn drag_and_drop_fires_the_drop_handler_of_the_target() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(DRAG_PAGE)).await;

    // Mid-drag the zone shows that it would take the card.
    assert!(
        browser.drag_over("#card", "#zone").await,
        "the zone accepts"
    );
    assert!(
        browser.exists("#zone.over").await,
        "{}",
        browser.html().await
    );
    browser.end_drag("#card").await;
    assert!(!browser.exists("#zone.over").await);
    assert_eq!(browser.text("#zone").await, "Drop here");
    assert_eq!(
        browser.text("#log").await,
        "dragstart,dragenter,dragover,dragleave,dragend"
    );

    browser
        .execute(
            "document.getElementById('log').textContent = ''; log.n = 0;",
            vec![],
        )
        .await;
    browser.drag_and_drop("#card", "#zone").await;
    assert_eq!(browser.text("#zone").await, "dropped card-7");
    assert_eq!(
        browser.text("#log").await,
        "dragstart,dragenter,dragover,drop,dragend"
    );
    browser.close().await;
}

#[tokio::test]
#[should_panic(expected = "refused the drop")]
async fn drag_and_drop_onto_a_target_that_refuses_the_drop_fails() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(DRAG_PAGE)).await;
    // The log paragraph has no dragover handler, so it takes no drop.
    browser.drag_and_drop("#card", "#log").await;
}

#[tokio::test]
async fn the_desktop_viewport_is_1366_css_pixels_wide() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(WELL_FORMED_PAGE)).await;
    let size = browser
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await;
    assert_eq!(size, serde_json::json!([1366, 900]));
    assert_eq!(Viewport::Desktop.name(), "desktop");
    browser.close().await;
}

#[tokio::test]
async fn the_tablet_viewport_is_820_css_pixels_wide() {
    let browser = Browser::start(Viewport::Tablet).await;
    browser.goto(&page_file(WELL_FORMED_PAGE)).await;
    let size = browser
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await;
    assert_eq!(size, serde_json::json!([820, 1180]));
    assert_eq!(Viewport::Tablet.name(), "tablet");
    browser.close().await;
}

#[tokio::test]
async fn a_screenshot_is_a_png_file() {
    let browser = Browser::start(Viewport::Desktop).await;
    browser.goto(&page_file(WELL_FORMED_PAGE)).await;
    let path = std::env::temp_dir()
        .join(format!("ops-kit-shots-{}", std::process::id()))
        .join("desktop")
        .join("well-formed.png");
    browser.screenshot(&path).await;
    let png = std::fs::read(&path).expect("the screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1366, 900), "the viewport, in pixels");
    browser.close().await;
}

#[tokio::test]
async fn the_form_helpers_fill_select_and_submit() {
    let page = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Form</title></head>
<body><main>
<form id="f" action="about:blank">
  <label for="name">Name</label><input id="name" name="name" value="old">
  <label for="stage">Stage</label>
  <select id="stage" name="stage"><option value="new">New</option><option value="won">Won</option></select>
  <button type="submit">Save</button>
</form>
<p id="out"></p>
</main>
<script>
document.getElementById('f').addEventListener('submit', e => {
  e.preventDefault();
  const data = new FormData(e.target);
  document.getElementById('out').textContent = data.get('name') + '/' + data.get('stage');
});
</script></body></html>"#;
    let browser = Browser::start(Viewport::Tablet).await;
    let url = page_file(page);
    browser.goto(&url).await;
    assert_eq!(browser.current_url().await, url);
    browser.fill("#name", "Ada").await;
    browser.select("#stage", "won").await;
    browser.submit("#f").await;
    assert_eq!(
        browser.wait_for("#out").await.text().await.unwrap(),
        "Ada/won"
    );
    browser.fill("#name", "Grace").await;
    browser.click("button[type=submit]").await;
    assert_eq!(browser.text("#out").await, "Grace/won");
    assert!(!browser.exists("#missing").await);
    browser.close().await;
}
