//! GraphiQL in a real browser (Debian's headless Chromium, driven over the DevTools protocol)
//! with every host but the loopback unreachable: the page renders from the binary's own
//! assets, loads the schema with the key from its Headers tab, runs a query over HTTP and a
//! subscription over `graphql-transport-ws`.
//!
//! It needs `chromium` (`apt-get install chromium`; .ci/run installs it) and fails, saying
//! so, without it.

mod api_util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_graphql::futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// A headless Chromium, killed when dropped.
struct Browser {
    child: Child,
    devtools: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--metrics-recording-only",
                // No host but the loopback resolves: the page must work without the internet.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs Chromium (`apt-get install chromium`; .ci/run installs it): {e}")
            });
        // It prints `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…` once up.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut devtools = None;
        for line in stderr.lines() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                devtools = Some(url.trim().to_owned());
                break;
            }
        }
        let devtools = devtools.expect("Chromium printed its DevTools address");
        Browser { child, devtools, _profile: profile }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One page, driven over the DevTools protocol.
struct Page {
    socket: Socket,
    session: String,
    next_id: u64,
}

impl Page {
    async fn open(browser: &Browser) -> Page {
        let (socket, _) = tokio_tungstenite::connect_async(browser.devtools.as_str()).await.unwrap();
        let mut page = Page { socket, session: String::new(), next_id: 0 };
        let target = page.command(None, "Target.createTarget", json!({"url": "about:blank"})).await;
        let attached = page
            .command(None, "Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}))
            .await;
        page.session = attached["sessionId"].as_str().unwrap().to_owned();
        page
    }

    async fn command(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        self.socket.send(Message::text(message.to_string())).await.unwrap();
        loop {
            let reply = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("DevTools answers within 20 s")
                .unwrap()
                .unwrap();
            let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page (awaited if it is a promise).
    async fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        let result = self.command(Some(&session), "Runtime.evaluate", params).await;
        assert!(result["exceptionDetails"].is_null(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true.
    async fn until(&mut self, what: &str, expression: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.eval(expression).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self.eval("document.body.innerText").await;
        panic!("{what} did not happen within 20 s; the page reads:\n{body}");
    }

    async fn goto(&mut self, url: &str) {
        let session = self.session.clone();
        self.command(Some(&session), "Page.navigate", json!({"url": url})).await;
    }
}

/// The CodeMirror editor of GraphiQL matching `selector`.
fn editor(selector: &str) -> String {
    format!("document.querySelector('{selector} .CodeMirror').CodeMirror")
}

#[tokio::test]
async fn graphiql_renders_offline_and_runs_a_query_and_a_subscription() {
    let server = api_util::start().await;
    let browser = tokio::task::spawn_blocking(Browser::launch).await.unwrap();
    let mut page = Page::open(&browser).await;
    let url = format!("{}/graphql", server.url);

    // A first visit: no key yet, so the schema cannot be fetched.
    page.goto(&url).await;
    page.until(
        "GraphiQL rendering",
        "!!document.querySelector('.graphiql-container .graphiql-execute-button')",
    )
    .await;
    page.until("the schema refused without a key", "document.body.innerText.includes('UNAUTHENTICATED')")
        .await;

    // The key typed into the Headers tab, then the schema re-fetched: the documentation
    // explorer shows the schema's roots.
    // The tools hold two editors, variables (hidden) and headers (shown).
    let headers = editor(".graphiql-editor-tool .graphiql-editor:not(.hidden)");
    page.eval(&format!(r#"{headers}.setValue('{{"Authorization": "Bearer viewer-key"}}'); true"#)).await;
    page.eval("document.querySelector('[aria-label=\"Re-fetch GraphQL schema\"]').click(); true").await;
    page.eval("document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click(); true").await;
    page.until(
        "the schema in the documentation explorer",
        "document.body.innerText.includes('TestSubscription')",
    )
    .await;

    let query = editor(".graphiql-query-editor");
    let response = editor(".graphiql-response");
    page.eval(&format!("{query}.setValue('{{ whoami {{ keyName role }} counter }}'); true")).await;
    page.eval("document.querySelector('.graphiql-execute-button').click(); true").await;
    page.until(
        "the query's answer",
        &format!("{response}.getValue().includes('\"keyName\": \"viewer-bot\"')"),
    )
    .await;
    let answer: Value =
        serde_json::from_str(page.eval(&format!("{response}.getValue()")).await.as_str().unwrap()).unwrap();
    assert_eq!(
        answer,
        json!({"data": {"whoami": {"keyName": "viewer-bot", "role": "VIEWER"}, "counter": 0}})
    );

    page.eval(&format!("{query}.setValue('subscription {{ ticks(count: 3) }}'); true")).await;
    // GraphiQL parses the editor's text after a pause and routes an operation by what it
    // parsed: clicked before that, a subscription goes over HTTP, which refuses it. Click
    // again until it goes over the WebSocket.
    let start = Instant::now();
    loop {
        page.eval("document.querySelector('.graphiql-execute-button').click(); true").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut text = String::new();
        while Instant::now() < deadline {
            text = page.eval(&format!("{response}.getValue()")).await.as_str().unwrap_or_default().to_owned();
            if text.contains("\"ticks\": 3") || text.contains("not supported on this transport") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if text.contains("\"ticks\": 3") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the subscription never ran over the WebSocket: {text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(server.control.registry.nodes().len(), 0); // the browser is no data plane

    // A reload keeps the key for the tab's session, and fetches the schema with it at once.
    page.goto(&url).await;
    page.until(
        "GraphiQL rendering",
        "!!document.querySelector('[aria-label=\"Show Documentation Explorer\"]')",
    )
    .await;
    page.eval("document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click(); true").await;
    page.until("the schema after a reload", "document.body.innerText.includes('TestSubscription')").await;
}
