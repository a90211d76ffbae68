//! The OpenAPI document is the contract (issue 19): `openapi-spec-validator` accepts it, and
//! Schemathesis, with every check on, finds the live `aftercare serve` doing what it says —
//! no 5xx, every status and body documented, every schema-valid request accepted or refused
//! for a rule the schema cannot say (`tests/contract/schemathesis.toml`), every
//! schema-violating request refused. Both tools come from PyPI into `tests/contract/.venv`,
//! which `scripts/test.sh` makes; `AFTERCARE_TEST_CONTRACT_TOOLS` names its `bin` folder.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::*;

/// Examples per operation: a few hundred in all phases together, well under two minutes.
const EXAMPLES: &str = "100";

fn tool(name: &str) -> PathBuf {
    let bin = std::env::var("AFTERCARE_TEST_CONTRACT_TOOLS").expect(
        "AFTERCARE_TEST_CONTRACT_TOOLS is not set: run the tests with ./scripts/test.sh, which installs Schemathesis and openapi-spec-validator",
    );
    PathBuf::from(bin).join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_does_what_its_openapi_document_says() {
    let served = serve_binary(&[]).await;
    // The examples in the document name C-10023: make it exist, so that generated requests
    // reach past "no such customer" into the handlers.
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/v1/customers",
            serde_json::json!({"external_id": "C-10023", "email": "jan.devries@example.nl",
                "consents": [{"purpose": "service", "channel": "email", "granted": true,
                              "source": "checkout", "at": "2026-01-01T10:00:00Z"}]}),
        ),
        (
            "/v1/products",
            serde_json::json!({"sku": "C-10023", "name": "Stride 4", "category": "running-shoes", "price_cents": 12995}),
        ),
        (
            "/v1/orders",
            serde_json::json!({"external_id": "C-10023", "customer_external_id": "C-10023",
                "placed_at": "2026-01-02T10:00:00Z",
                "lines": [{"sku": "C-10023", "quantity": 1, "unit_price_cents": 12995}]}),
        ),
    ] {
        let r = http
            .post(served.url(path))
            .bearer_auth(&served.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap()
        );
    }

    let document = served.dir.path().join("openapi.json");
    let printed = Command::new(env!("CARGO_BIN_EXE_aftercare"))
        .arg("openapi")
        .output()
        .expect("aftercare openapi");
    assert!(printed.status.success());
    std::fs::write(&document, &printed.stdout).unwrap();
    let served_document: serde_json::Value = http
        .get(served.url("/v1/openapi.json"))
        .bearer_auth(&served.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served_document,
        serde_json::from_slice::<serde_json::Value>(&printed.stdout).unwrap(),
        "the server serves the document `aftercare openapi` prints"
    );

    let validated = Command::new(tool("openapi-spec-validator"))
        .arg(&document)
        .output()
        .expect("running openapi-spec-validator");
    assert!(
        validated.status.success(),
        "openapi-spec-validator refuses the document:\n{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    let config = repo_root().join("tests/contract/schemathesis.toml");
    let schemathesis = tokio::task::spawn_blocking({
        let (document, base, token, dir) = (
            document.clone(),
            served.url(""),
            served.token.clone(),
            served.dir.path().to_path_buf(),
        );
        move || {
            Command::new(tool("st"))
                .current_dir(dir)
                .arg("--no-color")
                .arg("--config-file")
                .arg(config)
                .arg("run")
                .arg(document)
                .args(["--url", &base])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .args([
                    "--checks",
                    "all",
                    "--max-examples",
                    EXAMPLES,
                    "--workers",
                    "2",
                ])
                .args(["--seed", "19"])
                .output()
                .expect("running schemathesis")
        }
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&schemathesis.stdout);
    assert!(
        schemathesis.status.success(),
        "Schemathesis found the API and its document disagree:\n{report}\n{}",
        String::from_utf8_lossy(&schemathesis.stderr)
    );
    assert!(
        report.contains("passed"),
        "Schemathesis ran no test:\n{report}"
    );
}
