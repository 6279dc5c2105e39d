//! The deployment files agree with the code: probe paths and ports, the
//! shutdown budget, the environment, and the commands the containers run.

use axum::body::Body;
use clap::Parser;
use crm_app::commands::{Cli, Command};
use crm_app::config::Config;
use http::Request;
use ops_kit::config::Env;
use ops_kit::health::{LIVE_PATH, READY_PATH};
use tower::ServiceExt;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The values of `key:` on the lines after the line containing `after`.
fn value_after(text: &str, after: &str, key: &str) -> String {
    let start = text
        .find(after)
        .unwrap_or_else(|| panic!("{after} in the manifest"));
    text[start..]
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("{key} after {after}"))
}

/// The `{name: X, value: "Y"}` pairs of a manifest.
fn plain_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().strip_prefix("- {name: ")?;
            let (name, rest) = line.split_once(", value: ")?;
            Some((
                name.to_owned(),
                rest.trim_end_matches('}').trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn the_kubernetes_manifest_matches_the_routes_ports_and_shutdown_budget() {
    let manifest = read("k8s/crm-app.yaml");
    let live = value_after(&manifest, "livenessProbe:", "path");
    let ready = value_after(&manifest, "readinessProbe:", "path");
    assert_eq!((live.as_str(), ready.as_str()), (LIVE_PATH, READY_PATH));
    let container_port = value_after(&manifest, "containerPort", "containerPort");
    for probe in ["livenessProbe:", "readinessProbe:"] {
        assert_eq!(
            value_after(&manifest, probe, "port"),
            container_port,
            "{probe} port"
        );
    }
    assert_eq!(
        value_after(&manifest, "kind: Service", "targetPort"),
        container_port
    );
    let env = plain_env(&manifest);
    let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(get("PORT").as_deref(), Some(container_port.as_str()));
    assert!(read("Dockerfile").contains(&format!("EXPOSE {container_port}")));

    // The plain settings pass the service's own validation, with the
    // secrets the Secret would provide.
    let mut pairs: Vec<(String, String)> = env.clone();
    pairs.push(("DATABASE_URL".into(), "postgres://crm@db/crm".into()));
    pairs.push((
        "JWT_SECRET".into(),
        "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)".into(),
    ));
    pairs.push(("REDIS_URL".into(), "redis://cache:6379".into()));
    let config =
        Config::load(&Env::from_pairs(pairs)).expect("the manifest's environment is valid");
    assert!(config.mode.is_production());

    // The grace period covers the pre-stop delay, the drain, one cleanup
    // handler (5 s) and a margin (runbook section 6).
    let grace: u64 = value_after(
        &manifest,
        "terminationGracePeriodSeconds",
        "terminationGracePeriodSeconds",
    )
    .parse()
    .unwrap();
    let delay: u64 = get("SHUTDOWN_DELAY_SECS").unwrap().parse().unwrap();
    let timeout: u64 = get("SHUTDOWN_TIMEOUT_SECS")
        .unwrap_or("30".into())
        .parse()
        .unwrap();
    assert!(
        grace >= delay + timeout + 5 + 5,
        "grace {grace} s for {delay} + {timeout} + 5 + 5"
    );

    // The probe paths answer on the real service.
    let db = ops_kit::testing::TestDb::sqlite().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    let config = Config::load(&Env::from_pairs([(
        "JWT_SECRET",
        "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)",
    )]))
    .unwrap();
    let router = crm_app::build(&config, db.pool.clone()).into_router();
    for path in [live, ready] {
        let r = router
            .clone()
            .oneshot(Request::get(path.as_str()).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    db.drop_db().await;
}

#[test]
fn the_containers_run_commands_the_binary_has() {
    let manifest = read("k8s/crm-app.yaml");
    assert!(manifest.contains(r#"args: ["serve"]"#));
    assert!(matches!(
        Cli::try_parse_from(["crm-app", "serve"]).unwrap().command,
        Some(Command::Serve)
    ));
    let job = read("k8s/migrate-job.yaml");
    assert!(job.contains(r#"args: ["migrate"]"#) && job.contains("MIGRATION_DATABASE_URL"));
    assert!(matches!(
        Cli::try_parse_from(["crm-app", "migrate"]).unwrap().command,
        Some(Command::Migrate)
    ));
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains(r#"ENTRYPOINT ["/crm-app"]"#)
            && dockerfile.contains(r#"CMD ["serve"]"#)
    );
}
