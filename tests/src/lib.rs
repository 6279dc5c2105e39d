//! The harness of the black-box tests: build the real binaries, start them
//! as child processes on a free port, read their log lines, send them real
//! signals.
//!
//! The binaries are built (once per test process) with the same cargo and
//! profile as the tests themselves.
//!
//! [`browser`] drives a real Chromium through ChromeDriver.

pub mod browser;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Variables of the test runner's environment that would change how a
/// binary behaves; they are removed before the test sets its own.
const SCRUBBED: &[&str] = &[
    "APP_ENV",
    "JWT_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "BYPASS_AUTH",
    "VITE_BYPASS_AUTH",
    "HOST",
    "PORT",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "SHUTDOWN_TIMEOUT_SECS",
    "SHUTDOWN_DELAY_SECS",
    "BODY_READ_TIMEOUT_SECS",
    "HEADER_READ_TIMEOUT_SECS",
    "KEEP_ALIVE_TIMEOUT_SECS",
    "MAX_CONNECTIONS",
];

/// A binary of the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binary {
    /// `crm-app`.
    CrmApp,
    /// `examples/hello.rs`.
    Hello,
    /// `examples/audited.rs`.
    Audited,
}

/// What a one-off command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output and standard error, interleaved by stream.
    pub text: String,
}

/// Runs `binary` with `args` and `env` (on top of a scrubbed environment)
/// to completion.
pub fn run_to_end(binary: Binary, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(path_of(binary));
    for name in SCRUBBED {
        cmd.env_remove(name);
    }
    cmd.env_remove("MIGRATION_DATABASE_URL");
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let out = cmd.output().expect("the binary runs");
    Output {
        status: out.status,
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The target directory and profile the tests were built with.
fn target_profile_dir() -> PathBuf {
    // …/target/<profile>/deps/<test-binary>
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Builds `binary` if needed and returns its path.
pub fn path_of(binary: Binary) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<Binary, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&binary) {
        return path.clone();
    }
    let profile_dir = target_profile_dir();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build").arg("--quiet");
    let path = match binary {
        Binary::CrmApp => {
            cmd.args(["-p", "crm-app", "--bin", "crm-app"]);
            profile_dir.join("crm-app")
        }
        Binary::Hello => {
            cmd.args(["-p", "ops-kit-examples", "--example", "hello"]);
            profile_dir.join("examples").join("hello")
        }
        Binary::Audited => {
            cmd.args(["-p", "ops-kit-examples", "--example", "audited"]);
            profile_dir.join("examples").join("audited")
        }
    };
    if release {
        cmd.arg("--release");
    }
    cmd.arg("--target-dir").arg(&target_dir);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    let status = cmd.status().expect("cargo can be run");
    assert!(status.success(), "building {binary:?} failed");
    assert!(path.exists(), "{} was built", path.display());
    built.insert(binary, path.clone());
    path
}

/// A fresh SQLite URL in a temporary directory.
pub fn temp_sqlite_url() -> String {
    let dir = std::env::temp_dir().join(format!("crm-e2e-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}/crm.db", dir.display())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (NEXT.fetch_add(1, Ordering::Relaxed) << 32)
}

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

/// A running binary.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    output: Arc<(Mutex<Lines>, Condvar)>,
    status: Option<ExitStatus>,
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("count", &self.lines.len())
            .finish()
    }
}

impl Proc {
    /// Starts `binary` with only `env` set among the variables it reads
    /// (plus `PORT=0` unless given).
    pub fn start(binary: Binary, env: &[(&str, &str)]) -> Self {
        Self::start_command(Command::new(path_of(binary)), env)
    }

    /// [`start_listening`](Self::start_listening) with the process's
    /// open-file limit set to `nofile` (through `prlimit`).
    pub fn start_listening_with_file_limit(
        binary: Binary,
        env: &[(&str, &str)],
        nofile: u32,
    ) -> (Self, String) {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(path_of(binary));
        Self::listening(Self::start_command(cmd, env))
    }

    fn start_command(mut cmd: Command, env: &[(&str, &str)]) -> Self {
        for name in SCRUBBED {
            cmd.env_remove(name);
        }
        cmd.env("PORT", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let output: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let remaining = Arc::new(Mutex::new(2));
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let output = output.clone();
            let remaining = remaining.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let (lock, cvar) = &*output;
                    lock.lock().unwrap().lines.push(line);
                    cvar.notify_all();
                }
                let mut left = remaining.lock().unwrap();
                *left -= 1;
                if *left == 0 {
                    let (lock, cvar) = &*output;
                    lock.lock().unwrap().closed = true;
                    cvar.notify_all();
                }
            });
        }
        Self {
            child,
            output,
            status: None,
        }
    }

    /// Starts `binary` and waits until it listens; returns it with its base URL.
    pub fn start_listening(binary: Binary, env: &[(&str, &str)]) -> (Self, String) {
        Self::listening(Self::start(binary, env))
    }

    fn listening(proc: Self) -> (Self, String) {
        let line = proc.wait_for_line(
            |l| l.contains("[STARTUP] Listening on "),
            Duration::from_secs(60),
        );
        let start = line
            .find("http://")
            .expect("the listen line names the address");
        let url: String = line[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || ".:/[]".contains(*c))
            .collect();
        (proc, url)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line printed so far (stdout and stderr).
    pub fn lines(&self) -> Vec<String> {
        self.output.0.lock().unwrap().lines.clone()
    }

    /// Waits for a line matching `pred`, panicking with the output on timeout.
    pub fn wait_for_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.output;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(line) = state.lines.iter().find(|l| pred(l)) {
                return line.clone();
            }
            let now = Instant::now();
            if now >= deadline || state.closed {
                panic!(
                    "no matching line within {timeout:?}; output so far:\n{}",
                    state.lines.join("\n")
                );
            }
            state = cvar.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{name} succeeded");
    }

    /// Waits for the process to exit, killing it after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads drain the pipes.
                let (lock, cvar) = &*self.output;
                let mut state = lock.lock().unwrap();
                let drain_deadline = Instant::now() + Duration::from_secs(5);
                while !state.closed && Instant::now() < drain_deadline {
                    state = cvar
                        .wait_timeout(state, Duration::from_millis(50))
                        .unwrap()
                        .0;
                }
                self.status = Some(status);
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "the process did not exit within {timeout:?}; output:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether anything accepts TCP connections on `host:port`.
pub fn port_is_open(addr: &str) -> bool {
    std::net::TcpStream::connect_timeout(
        &addr.parse().expect("a socket address"),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Registers a shop (a tenant and its admin) on the service at `base` and
/// returns the admin's access token.
pub async fn register(base: &str, email: &str) -> String {
    let session: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({
            "tenantName": "Maple & Oak Cabinetry", "name": "Ada", "email": email, "password": "dovetail-joint",
        }))
        .send()
        .await
        .expect("the service answers")
        .json()
        .await
        .expect("a JSON session");
    session["accessToken"]
        .as_str()
        .expect("registered")
        .to_owned()
}

/// Logs the development seed's admin in on the service at `base`, retrying
/// while the service is still starting, and returns the access token.
pub async fn dev_login(base: &str) -> String {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"email": "admin@cutlist.pro", "password": "admin123"}))
            .send()
            .await
            && r.status() == 200
        {
            let session: serde_json::Value = r.json().await.expect("a JSON session");
            return session["accessToken"].as_str().expect("a token").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the dev admin could not log in at {base}");
}
