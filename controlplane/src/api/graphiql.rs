//! GraphiQL at `GET /graphql`, served whole from the binary: the page, GraphiQL 4.1.2 (its
//! UMD build, which bundles graphql-js and the graphql-ws client), React 18.3.1 and ReactDOM
//! 18.3.1, fetched from the npm registry by `controlplane/assets/fetch.sh` (which checks
//! their SHA-256) and committed with their licences under `controlplane/assets/graphiql/`.
//!
//! The page's Content-Security-Policy allows nothing but this origin (and inline styles and
//! `data:` images and fonts, which GraphiQL uses), so a browser refuses any attempt of the
//! page to load something from elsewhere: it works with no internet access.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page: the assets below and the script that starts GraphiQL, nothing else.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mockplane · GraphiQL</title>
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
<link rel="stylesheet" href="/graphql/assets/graphiql.min.css">
<script src="/graphql/assets/react.production.min.js"></script>
<script src="/graphql/assets/react-dom.production.min.js"></script>
<script src="/graphql/assets/graphiql.min.js"></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphql/assets/mockplane-graphiql.js"></script>
</body>
</html>
"#;

/// What the page may load: this origin only (`'self'` covers its `ws:` URLs too).
const CSP: &str = "default-src 'self'; script-src 'self'; connect-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The files under `/graphql/assets/`, with their content types.
pub(crate) const ASSETS: &[(&str, &str, &[u8])] = &[
    ("graphiql.min.js", JS, include_bytes!("../../assets/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../../assets/graphiql/graphiql.min.css")),
    ("react.production.min.js", JS, include_bytes!("../../assets/graphiql/react.production.min.js")),
    ("react-dom.production.min.js", JS, include_bytes!("../../assets/graphiql/react-dom.production.min.js")),
    ("mockplane-graphiql.js", JS, include_bytes!("../../assets/graphiql/mockplane-graphiql.js")),
    ("LICENSE.graphiql", TEXT, include_bytes!("../../assets/graphiql/LICENSE.graphiql")),
    ("LICENSE.graphql-ws", TEXT, include_bytes!("../../assets/graphiql/LICENSE.graphql-ws")),
    ("LICENSE.react", TEXT, include_bytes!("../../assets/graphiql/LICENSE.react")),
    ("LICENSE.react-dom", TEXT, include_bytes!("../../assets/graphiql/LICENSE.react-dom")),
];

const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// `GET /graphql`.
pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // The versions are fixed in the binary; a new binary may change them.
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no asset {file:?}\n")).into_response(),
    }
}
