//! docs/api.md is executable: every `curl` example in it is sent to the
//! real crm-app binary, in order, and must answer the status (and header)
//! written under it.

use e2e::{Binary, Proc};
use serde_json::Value;
use std::collections::HashMap;

/// One example: the command and what it should answer.
#[derive(Debug)]
struct Example {
    command: String,
    status: u16,
    header: Option<(String, String)>,
}

/// Splits a command line like a POSIX shell: quotes, backslash escapes in
/// double quotes, and `$NAME` expanded outside single quotes.
fn shell_words(line: &str, vars: &HashMap<String, String>) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let expand = |chars: &mut std::iter::Peekable<std::str::Chars>, out: &mut String| {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        out.push_str(
            vars.get(&name)
                .unwrap_or_else(|| panic!("${name} is not set")),
        );
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.push(chars.next().unwrap()),
                        '$' => expand(&mut chars, &mut word),
                        c => word.push(c),
                    }
                }
            }
            '$' => {
                in_word = true;
                expand(&mut chars, &mut word);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The `sh` examples of the page, with their expectations (`# → 201`,
/// optionally `(name: value)` for a response header).
fn examples(page: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut in_sh = false;
    let mut command = String::new();
    for line in page.lines() {
        if line.starts_with("```sh") {
            in_sh = true;
            continue;
        }
        if line.starts_with("```") {
            in_sh = false;
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(expect) = line.trim().strip_prefix("# →") {
            let expect = expect.trim();
            let status: u16 = expect[..3].parse().expect("a status after →");
            let header = expect
                .find('(')
                .and_then(|start| expect[start + 1..].split_once(')'))
                .and_then(|(inside, _)| inside.split_once(": "))
                .map(|(name, value)| (name.to_owned(), value.to_owned()));
            found.push(Example {
                command: std::mem::take(&mut command),
                status,
                header,
            });
        } else if let Some(part) = line.strip_suffix('\\') {
            command.push_str(part);
            command.push(' ');
        } else {
            command.push_str(line);
        }
    }
    found
}

#[tokio::test]
async fn every_curl_example_in_the_api_tour_answers_as_written() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    let url = e2e::temp_sqlite_url();
    let (_proc, base) = Proc::start_listening(
        Binary::CrmApp,
        &[("HOST", "127.0.0.1"), ("DATABASE_URL", &url)],
    );
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/api/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut vars = HashMap::from([("BASE".to_owned(), base.clone())]);
    let examples = examples(&page);
    assert!(
        examples.len() >= 15,
        "the tour has its examples ({})",
        examples.len()
    );
    for example in examples {
        let command = &example.command;
        let words = shell_words(command, &vars);
        assert_eq!(words[0], "curl", "{command}");
        let (mut method, mut url, mut headers, mut data) = (None, None, Vec::new(), None);
        let mut args = words[1..].iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-s" | "-i" => {}
                "-X" => method = args.next().cloned(),
                "-H" => headers.push(args.next().unwrap().clone()),
                "-d" => data = args.next().cloned(),
                other if other.starts_with("http") => url = Some(other.to_owned()),
                other => panic!("unexpected curl argument {other} in {command}"),
            }
        }
        let method = method.unwrap_or_else(|| if data.is_some() { "POST" } else { "GET" }.into());
        let url = url.expect("a URL");
        let mut request = client.request(method.parse().unwrap(), &url);
        for h in &headers {
            let (name, value) = h.split_once(": ").unwrap();
            request = request.header(name, value);
        }
        if let Some(data) = data {
            if !headers
                .iter()
                .any(|h| h.to_lowercase().starts_with("content-type"))
            {
                request = request.header("content-type", "application/x-www-form-urlencoded");
            }
            request = request.body(data);
        }
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let got_header = example.header.as_ref().map(|(name, _)| {
            response
                .headers()
                .get(name.as_str())
                .map(|v| v.to_str().unwrap().to_owned())
        });
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(got, example.status, "{command}\n→ {body}");
        if let Some((name, value)) = &example.header {
            assert_eq!(
                got_header.flatten().as_deref(),
                Some(value.as_str()),
                "{name} of {command}"
            );
        }
        if let Some(token) = body["accessToken"].as_str() {
            vars.insert("TOKEN".into(), token.into());
        }
        if method == "POST"
            && got < 300
            && let Some(id) = body["id"].as_str()
        {
            if url.ends_with("/api/crm/leads") {
                vars.insert("LEAD".into(), id.into());
            } else if url.ends_with("/api/crm/activities") {
                vars.insert("ACTIVITY".into(), id.into());
            } else if url.ends_with("/api/crm/quotes") {
                vars.insert("QUOTE".into(), id.into());
            }
        }
    }
}

#[test]
fn shell_words_follow_quoting_and_expand_variables() {
    let vars = HashMap::from([
        ("BASE".to_owned(), "http://h".to_owned()),
        ("ID".to_owned(), "7".to_owned()),
    ]);
    assert_eq!(
        shell_words(
            r#"curl -H 'a: $ID' "$BASE/x/$ID" -d "{\"k\":\"$ID\"}""#,
            &vars
        ),
        ["curl", "-H", "a: $ID", "http://h/x/7", "-d", r#"{"k":"7"}"#]
    );
}
