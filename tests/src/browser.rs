//! A real Chromium driven through ChromeDriver, for the tests that look at
//! pages as a person would: what they show, how they react to the keyboard
//! and the mouse, and whether axe-core finds serious accessibility faults.
//!
//! [`Browser::start`] runs `$CHROMEDRIVER` (default `/usr/bin/chromedriver`)
//! on a free loopback port and opens a headless session of `$CHROME_BIN`
//! (default `/usr/bin/chromium`) whose viewport is exactly the one asked
//! for. `scripts/test` installs both from Debian's packages, and axe-core
//! (`$AXE_CORE_JS`) from the npm registry. When any of them is missing the
//! test fails with a message naming it: nothing is skipped.
//!
//! Every method is a test helper: it panics, with the selector or URL in
//! the message, instead of returning an error.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long [`Browser::wait_for`] waits for an element.
const WAIT: Duration = Duration::from_secs(10);

/// How long ChromeDriver has to start listening.
const DRIVER_START: Duration = Duration::from_secs(20);

/// The window sizes the pages are checked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Viewport {
    /// A laptop screen: 1366×900 CSS pixels.
    Desktop,
    /// A tablet held upright: 820×1180 CSS pixels.
    Tablet,
}

impl Viewport {
    /// Width and height of the viewport in CSS pixels.
    pub fn size(self) -> (u32, u32) {
        match self {
            Viewport::Desktop => (1366, 900),
            Viewport::Tablet => (820, 1180),
        }
    }

    /// A short name, for file names and messages: `desktop` or `tablet`.
    pub fn name(self) -> &'static str {
        match self {
            Viewport::Desktop => "desktop",
            Viewport::Tablet => "tablet",
        }
    }
}

/// An accessibility fault that axe-core found on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The axe rule, such as `image-alt` or `label`.
    pub id: String,
    /// How bad it is: `serious` or `critical` (the only ones kept).
    pub impact: String,
    /// What the rule asks for, in a sentence.
    pub help: String,
    /// The offending elements: each its CSS selector and HTML snippet.
    pub nodes: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.id, self.impact, self.help)?;
        for node in &self.nodes {
            write!(f, "\n    at {node}")?;
        }
        Ok(())
    }
}

/// A headless Chromium session with its own ChromeDriver.
///
/// The driver is stopped, and with it the browser, when the value is
/// dropped (also when a test panics); [`Browser::close`] does it politely.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    viewport: Viewport,
    driver: Driver,
}

/// The ChromeDriver child process and the session opened on it.
#[derive(Debug)]
struct Driver {
    child: Child,
    addr: SocketAddr,
    /// The session still to delete when dropped.
    session: Option<String>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            // Blocking, since Drop cannot await: ChromeDriver quits the
            // browser when its session is deleted, so no Chromium outlives
            // a test that panicked.
            delete_session(self.addr, &id);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `DELETE /session/{id}` to the driver at `addr` and waits (a few
/// seconds at most) for its answer.
fn delete_session(addr: SocketAddr, id: &str) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}

/// The path in `var`, or `default` when it is unset or empty.
fn path_from_env(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(default),
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts ChromeDriver at `path` on a free port and waits until it accepts
/// connections. Tries again on another port when the first one was taken
/// meanwhile.
async fn start_driver(path: &Path) -> (Child, SocketAddr) {
    let mut last_exit = None;
    for _ in 0..3 {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut child = Command::new(path)
            .arg(format!("--port={}", addr.port()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ChromeDriver {}: {e}", path.display()));
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                last_exit = Some(status);
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return (child, addr);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ChromeDriver {} did not listen on {addr} within {DRIVER_START:?}",
                    path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!(
        "ChromeDriver {} exited at start ({}), three times",
        path.display(),
        last_exit.map_or_else(|| "no status".to_owned(), |s| s.to_string())
    );
}

/// Dispatches the events of an HTML5 drag and drop, which WebDriver's
/// pointer actions do not produce in Chrome. Arguments: the source's
/// selector, the target's selector, and the mode: `drop` (the whole
/// gesture), `over` (dragstart, dragenter, dragover, then the drag is left
/// hanging in `window.__opsKitDrag`) or `end` (dragleave on the hovered
/// target, then dragend on the source). All the events of one drag share
/// one `DataTransfer`. Answers `ok`, `accepted`, `refused`, or what went
/// wrong.
const DRAG_JS: &str = r#"
const [fromSel, toSel, mode] = arguments;
const src = document.querySelector(fromSel);
if (!src) return 'no element matches ' + fromSel;
const centre = el => {
  const r = el.getBoundingClientRect();
  return { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
};
const fire = (el, type, dt) => el.dispatchEvent(new DragEvent(type, Object.assign(
  { bubbles: true, cancelable: true, composed: true, dataTransfer: dt }, centre(el))));
if (mode === 'end') {
  const drag = window.__opsKitDrag || { dt: new DataTransfer(), target: null };
  delete window.__opsKitDrag;
  if (drag.target) fire(drag.target, 'dragleave', drag.dt);
  fire(src, 'dragend', drag.dt);
  return 'ok';
}
const dst = document.querySelector(toSel);
if (!dst) return 'no element matches ' + toSel;
if (!src.draggable) return fromSel + ' is not draggable (it has no draggable="true")';
const dt = new DataTransfer();
if (!fire(src, 'dragstart', dt)) return 'the dragstart handler of ' + fromSel + ' cancelled the drag';
fire(dst, 'dragenter', dt);
// As in a browser, a target accepts a drop only when its dragover
// handler cancels the event.
const accepted = !fire(dst, 'dragover', dt);
if (mode === 'over') {
  window.__opsKitDrag = { dt, target: dst };
  return accepted ? 'accepted' : 'refused';
}
if (!accepted) {
  fire(dst, 'dragleave', dt);
  fire(src, 'dragend', dt);
  return 'refused';
}
fire(dst, 'drop', dt);
fire(src, 'dragend', dt);
return 'ok';
"#;

/// Runs axe-core (already injected) on the document and hands back its
/// violations, reduced to what [`Violation`] keeps.
const AXE_RUN_JS: &str = r#"
const done = arguments[arguments.length - 1];
if (typeof window.axe === 'undefined') { done({ error: 'axe-core did not load' }); return; }
window.axe.run(document, { resultTypes: ['violations'] }).then(results => done({
  violations: results.violations.map(v => ({
    id: v.id,
    impact: v.impact || '',
    help: v.help,
    nodes: v.nodes.map(n => {
      const target = (n.target || []).map(t => Array.isArray(t) ? t.join(' >>> ') : String(t)).join(' ');
      return target ? target + ' ' + n.html : n.html;
    }),
  })),
})).catch(e => done({ error: String(e) }));
"#;

impl Browser {
    /// Starts ChromeDriver and a headless Chromium whose viewport
    /// (`window.innerWidth` × `window.innerHeight`) is `viewport`'s size.
    ///
    /// Panics, naming what is missing, when ChromeDriver or Chromium is
    /// not installed (`scripts/test` installs both).
    pub async fn start(viewport: Viewport) -> Browser {
        let driver_path = path_from_env("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chrome_path = path_from_env("CHROME_BIN", "/usr/bin/chromium");
        assert!(
            driver_path.is_file(),
            "ChromeDriver is not installed: {} does not exist (set CHROMEDRIVER, or run \
             scripts/test, which installs the Debian package chromium-driver)",
            driver_path.display()
        );
        assert!(
            chrome_path.is_file(),
            "Chromium is not installed: {} does not exist (set CHROME_BIN, or run \
             scripts/test, which installs the Debian package chromium)",
            chrome_path.display()
        );

        let (child, addr) = start_driver(&driver_path).await;
        let mut driver = Driver {
            child,
            addr,
            session: None,
        };

        let (width, height) = viewport.size();
        let mut caps = Capabilities::new();
        caps.insert("browserName".to_owned(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chrome_path,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{addr}"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "ChromeDriver {} could not start Chromium {}: {e}",
                    driver_path.display(),
                    chrome_path.display()
                )
            });
        driver.session = client
            .session_id()
            .await
            .expect("the session id of a new session");

        let browser = Browser {
            client,
            viewport,
            driver,
        };
        browser.fit_viewport().await;
        browser
    }

    /// Resizes the window until the viewport is exactly the size asked
    /// for: the window's size includes whatever the browser draws around
    /// the page.
    async fn fit_viewport(&self) {
        let (width, height) = self.viewport.size();
        let mut window = (width, height);
        for _ in 0..3 {
            self.client
                .set_window_size(window.0, window.1)
                .await
                .unwrap_or_else(|e| panic!("cannot resize the window to {window:?}: {e}"));
            let (inner_w, inner_h) = self.inner_size().await;
            if (inner_w, inner_h) == (width, height) {
                return;
            }
            window = (
                (i64::from(window.0) + i64::from(width) - i64::from(inner_w)).max(1) as u32,
                (i64::from(window.1) + i64::from(height) - i64::from(inner_h)).max(1) as u32,
            );
        }
        let inner = self.inner_size().await;
        panic!(
            "the {} viewport should be {width}×{height} CSS pixels but stays {}×{}",
            self.viewport.name(),
            inner.0,
            inner.1
        );
    }

    /// `window.innerWidth` and `window.innerHeight` of the current page.
    async fn inner_size(&self) -> (u32, u32) {
        let size = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let side = |i: usize| {
            size[i]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_else(|| panic!("the viewport size is not two numbers: {size}"))
        };
        (side(0), side(1))
    }

    /// The viewport this browser was started with.
    pub fn viewport(&self) -> Viewport {
        self.viewport
    }

    /// The underlying WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("cannot read the current URL: {e}"))
            .to_string()
    }

    /// The first element matching the CSS selector `css`, which must be
    /// there now.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!(
                "no element matches {css:?} on {}: {e}",
                self.current_url().await
            ),
        }
    }

    /// The first element matching `css`, waiting up to 10 seconds for one
    /// to appear.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element matched {css:?} on {} within {WAIT:?}: {e}",
                self.current_url().await
            ),
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css:?}: {e}"));
    }

    /// Clears the field matching `css`, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear {css:?}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css:?}: {e}"));
    }

    /// Chooses the option whose value is `value` in the `<select>`
    /// matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot choose {value:?} in {css:?}: {e}"));
    }

    /// Chooses the file at `path` (absolute) in the file input matching
    /// `css`, as a person picking it in the file dialog.
    pub async fn choose_file(&self, css: &str, path: &Path) {
        let path = path.to_str().expect("a UTF-8 path");
        self.find(css)
            .await
            .send_keys(path)
            .await
            .unwrap_or_else(|e| panic!("cannot choose {path:?} in {css:?}: {e}"));
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("cannot read the text of {css:?}: {e}"))
    }

    /// The source of the current page, as the browser has it now.
    pub async fn html(&self) -> String {
        self.client
            .source()
            .await
            .unwrap_or_else(|e| panic!("cannot read the page source: {e}"))
    }

    /// Whether an element matches `css` now (without waiting).
    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("cannot look for {css:?}: {e}"))
            .is_empty()
    }

    /// Runs `js` as the body of a function called with `args` (as
    /// `arguments`) and returns what it returns.
    pub async fn execute(&self, js: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(js, args)
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{js}"))
    }

    /// Submits a form: `css` matches either the `<form>` (submitted as by
    /// pressing Enter, its validation and submit handlers included) or the
    /// button to click.
    pub async fn submit(&self, css: &str) {
        let element = self.find(css).await;
        let tag = element
            .tag_name()
            .await
            .unwrap_or_else(|e| panic!("cannot read the tag of {css:?}: {e}"));
        if tag.eq_ignore_ascii_case("form") {
            let arg = serde_json::to_value(&element).expect("an element is JSON");
            self.execute("arguments[0].requestSubmit();", vec![arg])
                .await;
        } else {
            element
                .click()
                .await
                .unwrap_or_else(|e| panic!("cannot click {css:?} to submit: {e}"));
        }
    }

    /// The cookies the browser holds for the current page.
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap_or_else(|e| panic!("cannot read the cookies: {e}"))
    }

    /// Deletes every cookie of the current page's site.
    pub async fn delete_all_cookies(&self) {
        self.client
            .delete_all_cookies()
            .await
            .unwrap_or_else(|e| panic!("cannot delete the cookies: {e}"));
    }

    /// Saves a PNG screenshot of the viewport at `path`, creating its
    /// directory.
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("cannot take a screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Runs [`DRAG_JS`] in `mode` and returns its answer.
    async fn drag(&self, from_css: &str, to_css: &str, mode: &str) -> String {
        let answer = self
            .execute(DRAG_JS, vec![json!(from_css), json!(to_css), json!(mode)])
            .await;
        answer
            .as_str()
            .unwrap_or_else(|| panic!("the drag script answered {answer}"))
            .to_owned()
    }

    /// Drags the element matching `from_css` onto the one matching
    /// `to_css` and drops it there, by dispatching the HTML5 events
    /// (`dragstart` on the source, `dragenter`, `dragover` and `drop` on
    /// the target, `dragend` on the source) with one shared
    /// `DataTransfer`: WebDriver's pointer actions do not start an HTML5
    /// drag in Chrome.
    ///
    /// Panics when the source is not draggable, its `dragstart` handler
    /// cancels the drag, or the target refuses the drop (its `dragover`
    /// handler does not call `preventDefault()`), as a browser would not
    /// drop there either.
    pub async fn drag_and_drop(&self, from_css: &str, to_css: &str) {
        match self.drag(from_css, to_css, "drop").await.as_str() {
            "ok" => {}
            "refused" => panic!(
                "{to_css:?} refused the drop of {from_css:?}: its dragover handler does not \
                 call preventDefault()"
            ),
            other => panic!("cannot drag {from_css:?} onto {to_css:?}: {other}"),
        }
    }

    /// Starts dragging `from_css` and holds it over `to_css`
    /// (`dragstart`, `dragenter`, `dragover`), so that a test can look at
    /// what the page shows mid-drag; [`Browser::end_drag`] lets go.
    /// Returns whether the target would accept the drop.
    pub async fn drag_over(&self, from_css: &str, to_css: &str) -> bool {
        match self.drag(from_css, to_css, "over").await.as_str() {
            "accepted" => true,
            "refused" => false,
            other => panic!("cannot drag {from_css:?} over {to_css:?}: {other}"),
        }
    }

    /// Abandons the drag that [`Browser::drag_over`] started from
    /// `from_css`: `dragleave` on the target it hovers, then `dragend` on
    /// the source, as when the user lets go outside any drop zone.
    pub async fn end_drag(&self, from_css: &str) {
        let answer = self.drag(from_css, "", "end").await;
        assert_eq!(answer, "ok", "cannot end the drag of {from_css:?}");
    }

    /// Runs axe-core on the current page and returns its `serious` and
    /// `critical` violations.
    ///
    /// axe-core is read from `$AXE_CORE_JS` (its `axe.min.js`), which
    /// `scripts/test` installs and sets; unset, from where `scripts/test`
    /// installs it (so that `cargo test` works once the script has run).
    pub async fn axe(&self) -> Vec<Violation> {
        let path = std::env::var_os("AXE_CORE_JS")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(installed_axe)
            .unwrap_or_else(|| {
                panic!(
                    "AXE_CORE_JS is not set and axe-core is not installed: it names axe-core's \
                     axe.min.js, which scripts/test installs and sets (run the tests through scripts/test)"
                )
            });
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read axe-core at AXE_CORE_JS={} ({e}): run scripts/test, which installs it",
                path.display()
            )
        });
        self.execute(&source, vec![]).await;
        let answer = self
            .client
            .execute_async(AXE_RUN_JS, vec![])
            .await
            .unwrap_or_else(|e| panic!("axe-core did not run: {e}"));
        if let Some(error) = answer.get("error") {
            panic!("axe-core failed: {error}");
        }
        let all = answer
            .get("violations")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("axe-core answered {answer}"));
        all.iter()
            .map(|v| {
                let field = |name: &str| v[name].as_str().unwrap_or_default().to_owned();
                Violation {
                    id: field("id"),
                    impact: field("impact"),
                    help: field("help"),
                    nodes: v["nodes"]
                        .as_array()
                        .map(|nodes| {
                            nodes
                                .iter()
                                .filter_map(|n| n.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .filter(|v| v.impact == "serious" || v.impact == "critical")
            .collect()
    }

    /// Panics, listing them, when axe-core finds serious or critical
    /// violations on the current page; `page` names it in the message.
    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.axe().await;
        if !violations.is_empty() {
            let list: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
            panic!(
                "axe-core finds {} serious or critical violation(s) on {page} ({}):\n{}",
                violations.len(),
                self.viewport.name(),
                list.join("\n")
            );
        }
    }

    /// Ends the session (the browser quits) and stops ChromeDriver.
    pub async fn close(self) {
        let Browser {
            client, mut driver, ..
        } = self;
        client
            .close()
            .await
            .unwrap_or_else(|e| panic!("cannot end the browser session: {e}"));
        driver.session = None;
        drop(driver);
    }
}

/// Writes `html` to a new file in the temporary directory and returns its
/// `file://` URL, for tests of pages that need no server.
pub fn page_file(html: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "ops-kit-page-{}-{}.html",
        std::process::id(),
        crate::unique()
    ));
    std::fs::write(&path, html).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    format!("file://{}", path.display())
}

/// axe-core where `scripts/test` installs it: `/opt/axe-core` for root,
/// the user's cache otherwise.
fn installed_axe() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("ops-kit/axe-core"));
    [Some(PathBuf::from("/opt/axe-core")), cache]
        .into_iter()
        .flatten()
        .map(|root| root.join("node_modules/axe-core/axe.min.js"))
        .find(|p| p.is_file())
}
