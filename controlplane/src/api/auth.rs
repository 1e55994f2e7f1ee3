//! Who is calling: API keys, the roles they carry, and how a call presents its key.
//!
//! Every HTTP call carries `Authorization: Bearer <key>`; a WebSocket carries the same in its
//! `connection_init` payload (see [`key_from_init_payload`] for the spellings accepted). The
//! transport asks [`Keys::authenticate`] (the store implements it) for the [`Principal`]
//! behind the key and puts it in the GraphQL context, where resolvers read it with
//! [`principal`] (its `key_name` goes into revisions and the audit log).
//!
//! Roles are ordered: `Viewer < Editor < Admin`. What each field needs is declared once, on
//! the field, with the `@requiresRole` directive (see [`super::roles`]); the check happens
//! before anything executes.

use async_graphql::Context;

use super::errors::ApiError;

/// What a key may do. Each role may do what the roles below it may.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Query and subscribe.
    Viewer,
    /// Also change projects, environments and rules.
    Editor,
    /// Also manage API keys.
    Admin,
}

impl Role {
    /// The lowercase name the store and the CLI use (`viewer`, `editor`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// As the GraphQL enum spells it (`VIEWER`).
    pub fn graphql_name(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Editor => "EDITOR",
            Role::Admin => "ADMIN",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of `viewer`, `editor`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, editor or admin")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    /// `viewer`, `editor`, `admin`, in any case.
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        [Role::Viewer, Role::Editor, Role::Admin]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The caller: the name of the API key it presented, and that key's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's name (not the key): recorded in revisions and the audit log.
    pub key_name: String,
    /// What it may do.
    pub role: Role,
}

/// Why a key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key by that value: never issued, or revoked.
    #[error("the API key is not valid (unknown or revoked)")]
    UnknownKey,
    /// The keys could not be read (the store failed); the call is refused as `INTERNAL`.
    #[error("the API keys cannot be checked: {0}")]
    Unavailable(String),
}

/// The API keys, as the store keeps them.
///
/// Called once per HTTP call and once per WebSocket connection (a subscription keeps the
/// principal it connected with), so it should be a lookup by the key's hash, not a scan.
#[async_trait::async_trait]
pub trait Keys: Send + Sync + 'static {
    /// The principal behind `key` (the secret, as the client sent it).
    async fn authenticate(&self, key: &str) -> Result<Principal, AuthError>;
}

/// The key in an `Authorization` header value: `Bearer <key>` (the scheme in any case).
pub fn key_from_authorization(value: &str) -> Result<&str, ApiError> {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") && !key.trim().is_empty() => {
            Ok(key.trim())
        }
        _ => {
            Err(ApiError::Unauthenticated("the Authorization header must read `Bearer <API key>`".to_owned()))
        }
    }
}

/// The key in a WebSocket `connection_init` payload. Accepted, in this order:
/// `{"Authorization": "Bearer <key>"}` (the name in any case, as GraphiQL sends the headers
/// of its headers editor), the same inside `{"headers": {...}}` (as Apollo-style clients
/// nest it), or `{"apiKey": "<key>"}`.
pub fn key_from_init_payload(payload: &serde_json::Value) -> Result<&str, ApiError> {
    fn authorization(map: &serde_json::Map<String, serde_json::Value>) -> Option<&serde_json::Value> {
        map.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v)
    }
    let missing = || {
        ApiError::Unauthenticated(
            "no API key: send {\"Authorization\": \"Bearer <API key>\"} as the connection_init payload"
                .to_owned(),
        )
    };
    let Some(map) = payload.as_object() else { return Err(missing()) };
    let header = authorization(map).or_else(|| map.get("headers")?.as_object().and_then(authorization));
    match (header, map.get("apiKey")) {
        (Some(serde_json::Value::String(v)), _) => key_from_authorization(v),
        (Some(_), _) => Err(ApiError::Unauthenticated("the Authorization value must be a string".to_owned())),
        (None, Some(serde_json::Value::String(k))) if !k.trim().is_empty() => Ok(k.trim()),
        _ => Err(missing()),
    }
}

/// The key's principal, or the error to refuse the call with.
pub async fn authenticate(keys: &dyn Keys, key: &str) -> Result<Principal, ApiError> {
    keys.authenticate(key).await.map_err(|e| match e {
        AuthError::UnknownKey => ApiError::Unauthenticated(e.to_string()),
        AuthError::Unavailable(detail) => ApiError::internal(format!("authenticating an API key: {detail}")),
    })
}

/// The caller of the running operation. Every operation has one: the transport refuses calls
/// without a key before they reach a resolver.
pub fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal, ApiError> {
    ctx.data::<Principal>().map_err(|_| ApiError::Unauthenticated("this call carries no API key".to_owned()))
}

/// The caller, if its role is at least `role`: for a resolver whose need depends on its
/// arguments (the directive covers the fixed case).
pub fn require<'a>(ctx: &Context<'a>, role: Role) -> Result<&'a Principal, ApiError> {
    let p = principal(ctx)?;
    if p.role >= role {
        Ok(p)
    } else {
        Err(forbidden(p, role, None))
    }
}

pub(crate) fn forbidden(p: &Principal, needed: Role, field: Option<&str>) -> ApiError {
    let what = field.map_or_else(|| "this call".to_owned(), |f| format!("`{f}`"));
    ApiError::Forbidden(format!(
        "{what} needs the {} role; the API key {:?} has {}",
        needed.as_str(),
        p.key_name,
        p.role.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_are_ordered_and_parse_in_any_case() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
        assert_eq!("owner".parse::<Role>(), Err(UnknownRole("owner".into())));
    }

    #[test]
    fn the_bearer_key_is_read_and_anything_else_refused() {
        assert_eq!(key_from_authorization("Bearer mp_abc").unwrap(), "mp_abc");
        assert_eq!(key_from_authorization("bearer  mp_abc ").unwrap(), "mp_abc");
        for bad in ["mp_abc", "Basic dXNlcjpwdw==", "Bearer ", ""] {
            assert_eq!(key_from_authorization(bad).unwrap_err().code(), super::super::Code::Unauthenticated);
        }
    }

    #[test]
    fn the_init_payload_spellings_clients_send_are_accepted() {
        for payload in [
            json!({"Authorization": "Bearer k1"}),
            json!({"authorization": "Bearer k1"}),
            json!({"headers": {"Authorization": "Bearer k1"}}),
            json!({"apiKey": "k1"}),
        ] {
            assert_eq!(key_from_init_payload(&payload).unwrap(), "k1", "{payload}");
        }
        for payload in [json!(null), json!({}), json!({"Authorization": 7}), json!({"Authorization": "k1"})] {
            assert!(key_from_init_payload(&payload).is_err(), "{payload}");
        }
    }
}
