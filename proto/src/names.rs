//! The names both planes agree on before any rules travel: an environment is
//! `project/environment` and a node id is a short printable string. The control plane refuses a
//! stream or a report whose names break these rules; the data plane refuses to start with them,
//! rather than be refused by its control plane forever.

/// The longest environment name (`project/environment`) and node id, in bytes. Both are
/// remembered per data plane and per report; a name is a label, not a payload.
pub const MAX_NAME_BYTES: usize = 256;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// An environment that is not `project/environment`.
    #[error("environment {0:?} is not of the form project/environment")]
    NotProjectSlashEnvironment(String),
    /// An empty node id.
    #[error("the node id is empty")]
    EmptyNodeId,
    /// A name longer than [`MAX_NAME_BYTES`].
    #[error("{what} is {len} bytes long, more than {MAX_NAME_BYTES}")]
    TooLong {
        /// `environment` or `node id`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A name with a control character or white space (it would break logs and file names).
    #[error("{what} {name:?} contains white space or a control character")]
    Unprintable {
        /// `environment` or `node id`.
        what: &'static str,
        /// The name.
        name: String,
    },
}

/// Checks that `environment` reads `project/environment`: two non-empty parts, one `/`, at most
/// [`MAX_NAME_BYTES`], no white space or control character.
pub fn check_environment(environment: &str) -> Result<(), NameError> {
    check_printable("environment", environment)?;
    match environment.split_once('/') {
        Some((p, e)) if !p.is_empty() && !e.is_empty() && !e.contains('/') => Ok(()),
        _ => Err(NameError::NotProjectSlashEnvironment(environment.to_owned())),
    }
}

/// Checks a node id: not empty, at most [`MAX_NAME_BYTES`], no white space or control character.
pub fn check_node_id(id: &str) -> Result<(), NameError> {
    if id.is_empty() {
        return Err(NameError::EmptyNodeId);
    }
    check_printable("node id", id)
}

fn check_printable(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong { what, len: name.len() });
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NameError::Unprintable { what, name: name.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_are_project_slash_environment() {
        assert_eq!(check_environment("shop/staging"), Ok(()));
        for bad in ["shop", "/staging", "shop/", "a/b/c", ""] {
            assert_eq!(
                check_environment(bad),
                Err(NameError::NotProjectSlashEnvironment(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(check_environment("shop/stag ing"), Err(NameError::Unprintable { .. })));
        let long = format!("shop/{}", "e".repeat(MAX_NAME_BYTES));
        assert_eq!(
            check_environment(&long).unwrap_err().to_string(),
            format!("environment is {} bytes long, more than 256", MAX_NAME_BYTES + 5)
        );
    }

    #[test]
    fn node_ids_are_short_and_printable() {
        assert_eq!(check_node_id("dp-1.example"), Ok(()));
        assert_eq!(check_node_id(""), Err(NameError::EmptyNodeId));
        assert!(matches!(check_node_id("dp\n1"), Err(NameError::Unprintable { .. })));
        assert!(matches!(check_node_id(&"x".repeat(257)), Err(NameError::TooLong { len: 257, .. })));
    }
}
